#include "domain/sanitize.hpp"

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace cti {

namespace {

using json = nlohmann::json;

/// Byte length of the first `max_chars` characters of `s`, or npos when `s`
/// has no more than `max_chars` characters. A lead byte starts a character
/// and claims the continuation bytes it announces; any other continuation
/// byte counts as a character of its own, so invalid UTF-8 is still bounded.
std::size_t prefix_bytes(std::string_view s, std::size_t max_chars) {
  // A string with no more bytes than the limit cannot have more characters.
  if (s.size() <= max_chars)
    return std::string_view::npos;
  std::size_t chars = 0;
  int pending = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto b = static_cast<unsigned char>(s[i]);
    if ((b & 0xc0) == 0x80 && pending > 0) {
      --pending;
      continue;
    }
    if (chars == max_chars)
      return i;
    ++chars;
    pending = (b & 0xe0) == 0xc0 ? 1 : (b & 0xf0) == 0xe0 ? 2 : (b & 0xf8) == 0xf0 ? 3 : 0;
  }
  return std::string_view::npos;
}

bool is_over_string_limit(std::string_view s) {
  return prefix_bytes(s, sanitize_max_string_chars) != std::string_view::npos;
}

std::string truncate_string(const std::string& s) {
  auto cut = prefix_bytes(s, sanitize_max_string_chars);
  if (cut == std::string_view::npos)
    return s;
  std::string out = s.substr(0, cut);
  out += sanitize_truncated_marker;
  return out;
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool is_binary_field(const std::string& key, const json& value) {
  if (value.is_binary())
    return true;
  auto k = ascii_lower(key);
  if (k == "audio_data" || k == "file_data")
    return true;
  return (k.ends_with("_data") || k.ends_with("_base64")) && value.is_string()
         && is_over_string_limit(value.get_ref<const std::string&>());
}

json sanitize_value(const json& v, int level);

json sanitize_object(const json& v, int level) {
  std::vector<std::pair<const std::string*, const json*>> kept;
  for (auto it = v.begin(); it != v.end(); ++it)
    if (!is_binary_field(it.key(), it.value()))
      kept.emplace_back(&it.key(), &it.value());
  if (kept.size() > sanitize_max_object_keys) {
    json sample = json::array();
    for (std::size_t i = 0; i < sanitize_sample_keys; ++i)
      sample.push_back(truncate_string(*kept[i].first));
    return json{{"_truncated", true}, {"sample_keys", std::move(sample)}, {"total_keys", kept.size()}};
  }
  json out = json::object();
  for (const auto& [key, value] : kept)
    out.emplace(truncate_string(*key), sanitize_value(*value, level + 1));
  return out;
}

json sanitize_array(const json& v, int level) {
  json out = json::array();
  std::size_t n = 0;
  for (const auto& item : v) {
    if (n == sanitize_max_array_items)
      break;
    out.push_back(item.is_binary() ? json("[binary]") : sanitize_value(item, level + 1));
    ++n;
  }
  if (v.size() > sanitize_max_array_items)
    out.push_back("[truncated " + std::to_string(v.size() - sanitize_max_array_items) + " more]");
  return out;
}

/// `level` is the level `v` sits at when it is a container.
json sanitize_value(const json& v, int level) {
  switch (v.type()) {
    case json::value_t::object:
      if (level > sanitize_max_depth)
        return std::string(sanitize_max_depth_marker);
      return sanitize_object(v, level);
    case json::value_t::array:
      if (level > sanitize_max_depth)
        return std::string(sanitize_max_depth_marker);
      return sanitize_array(v, level);
    case json::value_t::string:
      return truncate_string(v.get_ref<const std::string&>());
    case json::value_t::binary:
      return "[binary]";
    case json::value_t::discarded:
      return nullptr;
    default:
      return v;
  }
}

} // namespace

nlohmann::json sanitize_payload(const nlohmann::json& payload) {
  try {
    return sanitize_value(payload, 1);
  } catch (...) {
    // Only allocation can fail here; a null copy beats losing the event.
    return nullptr;
  }
}

} // namespace cti
