#include "domain/validation.hpp"

#include <charconv>

#include <nlohmann/json.hpp>

#include "domain/call_status.hpp"

namespace cti {

std::optional<int64_t> parse_int64(std::string_view text) {
  if (text.empty() || text.size() > 20)
    return std::nullopt;
  int64_t out = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (ec != std::errc{} || ptr != text.data() + text.size())
    return std::nullopt;
  return out;
}

std::optional<int64_t> parse_dialpad_id(std::string_view text) {
  auto v = parse_int64(text);
  if (!v || *v <= 0)
    return std::nullopt;
  return v;
}

std::optional<int64_t> json_dialpad_id(const nlohmann::json& v) {
  if (v.is_number_unsigned()) {
    auto u = v.get<uint64_t>();
    if (u == 0 || u > static_cast<uint64_t>(INT64_MAX))
      return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) {
    auto i = v.get<int64_t>();
    return i > 0 ? std::optional{i} : std::nullopt;
  }
  if (v.is_string())
    return parse_dialpad_id(v.get_ref<const std::string&>());
  return std::nullopt;
}

std::size_t utf8_sequence_at(std::string_view s, std::size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || i + len > s.size())
    return 0;
  uint32_t cp = len == 1 ? c : c & (0x7F >> len);
  for (std::size_t k = 1; k < len; ++k) {
    auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
  if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)
      || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

std::string utf8_text_prefix(std::string_view s, std::size_t max_bytes) {
  std::string out;
  out.reserve(std::min(s.size(), max_bytes));
  for (std::size_t i = 0; i < s.size();) {
    auto len = utf8_sequence_at(s, i);
    if (len == 0 || s[i] == '\0') {
      if (out.size() + 1 > max_bytes)
        break;
      out += '?';
      ++i;
      continue;
    }
    if (out.size() + len > max_bytes)
      break;
    out.append(s.substr(i, len));
    i += len;
  }
  return out;
}

std::optional<std::size_t> utf8_length(std::string_view s) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < s.size();) {
    auto len = utf8_sequence_at(s, i);
    if (len == 0)
      return std::nullopt;
    i += len;
    ++n;
  }
  return n;
}

bool is_valid_label(std::string_view s, std::size_t max) {
  auto n = utf8_length(s);
  if (!n || *n == 0 || *n > max)
    return false;
  if (s.find('\0') != std::string_view::npos)
    return false;
  return s.find_first_not_of(" \t\r\n") != std::string_view::npos;
}

std::optional<std::vector<std::string>> parse_status_list(std::string_view text) {
  std::vector<std::string> out;
  while (true) {
    auto comma = text.find(',');
    auto item = text.substr(0, comma);
    while (!item.empty() && item.front() == ' ')
      item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ')
      item.remove_suffix(1);
    if (!parse_call_status(item))
      return std::nullopt;
    out.emplace_back(item);
    if (comma == std::string_view::npos)
      break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

bool is_direction(std::string_view s) {
  return s == "inbound" || s == "outbound";
}

bool is_callback_status(std::string_view s) {
  return s == "pending" || s == "in_progress" || s == "done";
}

std::string ascii_lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  return out;
}

} // namespace cti
