#include "domain/log.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <memory>
#include <mutex>

#include <cerrno>
#include <cstdio>

#include <unistd.h>

#include <spdlog/async.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include "domain/validation.hpp"

namespace cti::log {

namespace {

/// Most bytes one write(2) of the log carries: a pipe takes up to PIPE_BUF
/// (4096) bytes from one write without mixing in another writer's bytes.
constexpr std::size_t atomic_write_bytes = 4096;
/// Lines buffered before they are written out regardless of the clock.
constexpr std::size_t buffer_bytes = 64 * 1024;

/// Writes lines to stdout, buffered; spdlog's own stdout sink flushes (one
/// write syscall) per line, which at thousands of access lines a second
/// costs real CPU. Flushed every second, on warnings, and at exit. Every
/// write(2) ends at the end of a line (stdio's buffer did not: another
/// writer of the same file, e.g. libpq printing a server's message to
/// stderr, could land in the middle of one of our lines).
class buffered_stdout_sink : public spdlog::sinks::base_sink<std::mutex> {
protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    if (pending_.size() + formatted.size() > buffer_bytes)
      flush_();
    pending_.append(formatted.data(), formatted.size());
  }
  void flush_() override {
    std::string_view rest{pending_};
    while (!rest.empty()) {
      auto n = whole_lines_prefix(rest, atomic_write_bytes);
      auto wrote = ::write(STDOUT_FILENO, rest.data(), n);
      if (wrote < 0 && errno == EINTR)
        continue;
      if (wrote <= 0)
        break; // nowhere to write to: the lines are dropped
      rest.remove_prefix(static_cast<std::size_t>(wrote));
    }
    pending_.clear();
  }

private:
  std::string pending_;
};

struct state {
  std::shared_ptr<spdlog::logger> logger;
  std::vector<std::string> secrets;
  bool json = true;
};

// Written once by init() before any other thread logs, then only read.
state& global() {
  static state s;
  return s;
}

std::atomic<int> min_level{static_cast<int>(level::info)};

spdlog::level::level_enum to_spdlog(level l) {
  switch (l) {
    case level::trace: return spdlog::level::trace;
    case level::debug: return spdlog::level::debug;
    case level::info: return spdlog::level::info;
    case level::warn: return spdlog::level::warn;
    case level::error: return spdlog::level::err;
    case level::critical: return spdlog::level::critical;
    case level::off: break;
  }
  return spdlog::level::off;
}

/// A JSON string of `s`. Bytes that are not well-formed UTF-8 (a request
/// line can carry any) become U+FFFD, so every line stays valid JSON; the
/// Unicode line breaks (U+0085, U+2028, U+2029) are escaped, so no reader
/// that splits on them sees a line start inside a value.
void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      if (auto len = utf8_sequence_at(s, i); len > 0) {
        auto seq = s.substr(i, len);
        if (seq == "\u0085")
          out += "\\u0085";
        else if (seq == "\u2028")
          out += "\\u2028";
        else if (seq == "\u2029")
          out += "\\u2029";
        else
          out.append(seq);
        i += len;
      } else {
        out += "\ufffd";
        ++i;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
}

// Text mode quotes values holding spaces, quotes, '=', control characters or
// anything not ASCII (escaped as in JSON), so lines stay machine-splittable
// and printable.
void append_text_value(std::string& out, std::string_view s) {
  bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return c > 0x20 && c < 0x7f && c != '"' && c != '=';
  });
  if (plain) {
    out += s;
    return;
  }
  append_json_string(out, s);
}

/// Masks whole API keys (`raw_` + 64 hex) wherever they appear: a client
/// may paste one into a path (`/ws&api_key=raw_…`), which is logged.
void mask_api_keys(std::string& text) {
  constexpr std::string_view prefix = "raw_";
  constexpr std::size_t hex_digits = 64;
  for (auto pos = text.find(prefix); pos != std::string::npos; pos = text.find(prefix, pos)) {
    auto start = pos + prefix.size();
    std::size_t n = 0;
    while (start + n < text.size() && n < hex_digits
           && std::isxdigit(static_cast<unsigned char>(text[start + n])))
      ++n;
    if (n == hex_digits) {
      text.replace(start, hex_digits, "[REDACTED]");
      pos = start + 10;
    } else {
      pos = start;
    }
  }
}

} // namespace

level parse_level(std::string_view n) {
  if (n == "trace") return level::trace;
  if (n == "debug") return level::debug;
  if (n == "warn" || n == "warning") return level::warn;
  if (n == "error") return level::error;
  if (n == "critical") return level::critical;
  if (n == "off") return level::off;
  return level::info;
}

std::size_t whole_lines_prefix(std::string_view text, std::size_t max) {
  if (text.size() <= max)
    return text.size();
  auto last = text.rfind('\n', max - 1);
  if (last != std::string_view::npos)
    return last + 1;
  // One line longer than `max`: all of it (it cannot be written whole at once).
  auto end = text.find('\n', max);
  return end == std::string_view::npos ? text.size() : end + 1;
}

void init(level min, bool json, std::vector<std::string> secrets) {
  auto& g = global();
  std::erase_if(secrets, [](const std::string& s) { return s.size() < 4; });
  g.secrets = std::move(secrets);
  g.json = json;
  if (!g.logger) {
    spdlog::init_thread_pool(8192, 1);
    auto sink = std::make_shared<buffered_stdout_sink>();
    // Overrun the oldest line rather than block the caller: logging must never
    // stall an asio or scheduler thread.
    g.logger = std::make_shared<spdlog::async_logger>(
      "cti", sink, spdlog::thread_pool(), spdlog::async_overflow_policy::overrun_oldest);
    spdlog::register_logger(g.logger); // so that flush_every reaches it
  }
  g.logger->set_pattern(json ? R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l",%v})"
                             : "%Y-%m-%dT%H:%M:%S.%eZ %-5l %v",
                        spdlog::pattern_time_type::utc);
  g.logger->set_level(to_spdlog(min));
  g.logger->flush_on(spdlog::level::warn);
  spdlog::flush_every(std::chrono::seconds{1});
  min_level.store(static_cast<int>(min));
}

void shutdown() {
  if (auto& g = global(); g.logger)
    g.logger->flush();
  std::fflush(stdout);
  spdlog::shutdown();
  global().logger.reset();
}

bool enabled(level lvl) {
  return lvl != level::off && static_cast<int>(lvl) >= min_level.load(std::memory_order_relaxed);
}

std::string redact(std::string_view text) {
  std::string out{text};
  mask_api_keys(out);
  for (const auto& secret : global().secrets) {
    for (auto pos = out.find(secret); pos != std::string::npos;
         pos = out.find(secret, pos)) {
      out.replace(pos, secret.size(), "[REDACTED]");
      pos += 10;
    }
  }
  return out;
}

std::string format_line(bool json, std::string_view msg, std::initializer_list<field> fields) {
  std::string line;
  line.reserve(128);
  if (json) {
    line += "\"msg\":";
    append_json_string(line, redact(msg));
    for (const auto& f : fields) {
      line += ',';
      append_json_string(line, f.key);
      line += ':';
      append_json_string(line, redact(f.value));
    }
  } else {
    // The message is the code's own text; only its secrets are masked.
    line += redact(msg);
    for (const auto& f : fields) {
      line += ' ';
      line += f.key;
      line += '=';
      append_text_value(line, redact(f.value));
    }
  }
  return line;
}

void write(level lvl, std::string_view msg, std::initializer_list<field> fields) {
  auto& g = global();
  if (!enabled(lvl))
    return;
  auto line = format_line(g.json, msg, fields);
  if (g.logger) {
    g.logger->log(to_spdlog(lvl), "{}", line);
  } else {
    // Before init (e.g. a configuration error): plain stderr, still redacted.
    static std::mutex mtx;
    std::lock_guard<std::mutex> guard{mtx};
    std::fprintf(stderr, "%s\n", line.c_str());
  }
}

} // namespace cti::log
