#pragma once

// A minimal JSON object writer for hot responses (call lists): appends
// straight into one string, no DOM, no allocation per field. Strings are
// escaped per RFC 8259; the caller guarantees valid UTF-8 (text from
// Postgres always is).

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cti {

/// Appends `s` as a JSON string literal (quoted, escaped) to `out`.
inline void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 0xf];
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

/// Writes one flat JSON object: `{"k":v,...}`.
class json_object_writer {
public:
  explicit json_object_writer(std::string& out) : out_(out) { out_ += '{'; }

  json_object_writer& str(std::string_view k, std::string_view v) {
    key(k);
    append_json_string(out_, v);
    return *this;
  }
  json_object_writer& str(std::string_view k, const std::string& v) {
    return str(k, std::string_view{v});
  }
  json_object_writer& str(std::string_view k, const char* v) {
    return str(k, std::string_view{v});
  }
  json_object_writer& str(std::string_view k, const std::optional<std::string>& v) {
    return v ? str(k, std::string_view{*v}) : null(k);
  }
  json_object_writer& num(std::string_view k, int64_t v) {
    key(k);
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, static_cast<std::size_t>(end - buf));
    return *this;
  }
  template <class T>
  json_object_writer& num(std::string_view k, const std::optional<T>& v) {
    return v ? num(k, static_cast<int64_t>(*v)) : null(k);
  }
  json_object_writer& boolean(std::string_view k, bool v) {
    key(k);
    out_ += v ? "true" : "false";
    return *this;
  }
  json_object_writer& null(std::string_view k) {
    key(k);
    out_ += "null";
    return *this;
  }
  /// `v` is JSON text already (e.g. a jsonb column); null when absent.
  json_object_writer& raw(std::string_view k, const std::optional<std::string>& v) {
    key(k);
    out_ += v ? std::string_view{*v} : std::string_view{"null"};
    return *this;
  }
  void end() { out_ += '}'; }

private:
  void key(std::string_view k) {
    if (!first_)
      out_ += ',';
    first_ = false;
    out_ += '"';
    out_ += k; // our own field names: nothing to escape
    out_ += "\":";
  }
  std::string& out_;
  bool first_ = true;
};

} // namespace cti
