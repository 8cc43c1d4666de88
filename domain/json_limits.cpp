#include "domain/json_limits.hpp"

#include <algorithm>
#include <climits>
#include <vector>

#include <nlohmann/json.hpp>

namespace cti {

int json_depth(std::string_view text, int limit) {
  // Keep limit + 1 representable.
  limit = std::clamp(limit, 0, INT_MAX - 1);
  int depth = 0;
  int deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      // Inside a string only an unescaped quote matters; `\\` escapes the
      // backslash itself, so `"\\"` ends at its third quote.
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '{':
      case '[':
        if (++depth > limit)
          return limit + 1;
        deepest = std::max(deepest, depth);
        break;
      case '}':
      case ']':
        if (depth > 0)
          --depth;
        break;
      default:
        break;
    }
  }
  return deepest;
}

nlohmann::json parse_json_unique_keys(std::string_view text, bool* duplicate) {
  using event = nlohmann::json::parse_event_t;
  // Keys seen per open object; an object that ends with fewer members than
  // keys had a key twice (the later value replaced the earlier one).
  std::vector<std::size_t> keys;
  bool twice = false;
  auto count = [&](int, event ev, nlohmann::json& parsed) {
    switch (ev) {
      case event::object_start: keys.push_back(0); break;
      case event::key: ++keys.back(); break;
      case event::object_end:
        twice = twice || parsed.size() != keys.back();
        keys.pop_back();
        break;
      default: break;
    }
    return true;
  };
  // A raw NUL byte is JSON nowhere (not whitespace, and not allowed
  // unescaped in a string), but nlohmann's lexer reads one as the end of
  // input: `{"a":1}\0junk` would parse as `{"a":1}`.
  if (text.find('\0') != std::string_view::npos) {
    if (duplicate != nullptr)
      *duplicate = false;
    return nlohmann::json(nlohmann::json::value_t::discarded);
  }
  auto j = nlohmann::json::parse(text.begin(), text.end(), count, false);
  if (duplicate != nullptr)
    *duplicate = twice && !j.is_discarded();
  if (twice)
    return nlohmann::json(nlohmann::json::value_t::discarded);
  return j;
}

untrusted_json parse_untrusted_json(std::string_view text) {
  untrusted_json out;
  // A byte order mark is not JSON (RFC 8259 §8.1 forbids sending one). The
  // parser would skip it, PostgreSQL would refuse the stored text later.
  if (text.substr(0, 3) == "\xEF\xBB\xBF") {
    out.fault = json_fault::not_json;
    out.value = nlohmann::json::value_t::discarded;
    return out;
  }
  if (json_depth(text, max_untrusted_json_depth) > max_untrusted_json_depth) {
    out.fault = json_fault::too_deep;
    return out;
  }
  bool duplicate = false;
  out.value = parse_json_unique_keys(text, &duplicate);
  if (out.value.is_discarded())
    out.fault = duplicate ? json_fault::duplicate_key : json_fault::not_json;
  return out;
}

const char* describe(json_fault fault) {
  switch (fault) {
    case json_fault::none: return "";
    case json_fault::too_deep: return "JSON nested deeper than 64 levels";
    case json_fault::not_json: return "body is not valid JSON";
    case json_fault::duplicate_key: return "an object in the body names a key twice";
  }
  return "";
}

} // namespace cti
