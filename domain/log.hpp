#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

/// Structured logging for every layer: one line per call, as JSON or text.
///
/// This is the one domain/ header that performs I/O: a thin front to spdlog
/// (asynchronous, so no asio or scheduler thread ever waits on stdout).
/// Every message and field passes through `redact`, which masks the values of
/// the configured secrets wherever they appear.
namespace cti::log {

/// Severity, lowest first.
enum class level { trace, debug, info, warn, error, critical, off };

/// One key/value pair attached to a line.
struct field {
  std::string_view key;
  std::string value;
};

/// Parses `trace|debug|info|warn|error|critical|off`; `info` otherwise.
level parse_level(std::string_view name);

/// Configures the process logger. `secrets` are values never to be printed.
void init(level min_level, bool json, std::vector<std::string> secrets);

/// Flushes and stops the logger (at exit).
void shutdown();

/// How much of `text` (lines ending in '\n') to write in one write(2) of
/// at most `max` bytes: the whole lines that fit, else (one line longer
/// than `max`) that first line. Exposed for its unit test.
std::size_t whole_lines_prefix(std::string_view text, std::size_t max);

/// True when lines of `lvl` are written.
bool enabled(level lvl);

/// Writes one line.
void write(level lvl, std::string_view msg, std::initializer_list<field> fields = {});

/// Replaces every configured secret value, and every whole API key
/// (`raw_` + 64 hex), inside `text` with `[REDACTED]`.
std::string redact(std::string_view text);

/// The text of one line after the time and level: `"msg":…,"key":…` (JSON)
/// or `msg key=value …` (text), redacted, and valid UTF-8 whatever bytes
/// the values hold.
std::string format_line(bool json, std::string_view msg, std::initializer_list<field> fields);

/// Convenience wrappers.
inline void debug(std::string_view m, std::initializer_list<field> f = {}) { write(level::debug, m, f); }
inline void info(std::string_view m, std::initializer_list<field> f = {}) { write(level::info, m, f); }
inline void warn(std::string_view m, std::initializer_list<field> f = {}) { write(level::warn, m, f); }
inline void error(std::string_view m, std::initializer_list<field> f = {}) { write(level::error, m, f); }

} // namespace cti::log
