#include "domain/redact.hpp"

#include <algorithm>
#include <array>
#include <vector>

#include <nlohmann/json.hpp>

#include "domain/phone.hpp"

namespace cti {

namespace {

bool looks_like_phone(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || c == '+' || c == '(' || c == ')' || c == '.'
                  || c == '-' || c == ' ';
         });
}

bool is_name_key(const std::string& key) {
  static const std::array<std::string_view, 6> names = {
    "name", "caller_name", "display_name", "contact_name", "first_name", "last_name"};
  return std::find(names.begin(), names.end(), key) != names.end();
}

/// Replaces every run of phone characters inside `text` (7+ digits) that
/// writes the number; true when something changed.
bool redact_runs(std::string& text, std::string_view normalized) {
  auto is_phone_char = [](char c) {
    return (c >= '0' && c <= '9') || c == '+' || c == '(' || c == ')' || c == '.' || c == '-'
           || c == ' ';
  };
  bool changed = false;
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    if (!is_phone_char(text[i]) || text[i] == ' ') {
      out += text[i++];
      continue;
    }
    auto j = i;
    while (j < text.size() && is_phone_char(text[j]))
      ++j;
    // Trailing spaces and punctuation belong to the sentence, not the number.
    auto end = j;
    while (end > i && (text[end - 1] == ' ' || text[end - 1] == '.' || text[end - 1] == '-'))
      --end;
    std::string_view run{text.data() + i, end - i};
    if (phone_matches(run, normalized)) {
      out += redacted_text;
      changed = true;
    } else {
      out.append(run);
    }
    out.append(text, end, j - end);
    i = j;
  }
  if (changed)
    text = std::move(out);
  return changed;
}

/// Pass one: numbers, anywhere in a string; the names beside a number are
/// redacted and collected. Answers true when a string directly in `j` (or
/// in an array member of it) held the number.
bool walk(nlohmann::json& j, std::string_view normalized, bool& changed,
          std::vector<std::string>& names) {
  if (j.is_string()) {
    auto& text = j.get_ref<std::string&>();
    if (phone_matches(text, normalized)) {
      j = std::string{redacted_text};
      changed = true;
      return true;
    }
    if (redact_runs(text, normalized)) {
      changed = true;
      return true;
    }
    return false;
  }
  bool hit_here = false;
  if (j.is_array()) {
    for (auto& v : j)
      if (walk(v, normalized, changed, names) && !v.is_object())
        hit_here = true;
    return hit_here;
  }
  if (j.is_object()) {
    for (auto& [key, v] : j.items())
      if (walk(v, normalized, changed, names) && !v.is_object())
        hit_here = true;
    if (hit_here)
      for (auto& [key, v] : j.items())
        if (is_name_key(key) && v.is_string() && v.get_ref<const std::string&>() != redacted_text) {
          if (v.get_ref<const std::string&>().size() >= 3)
            names.push_back(v.get<std::string>());
          v = std::string{redacted_text};
          changed = true;
        }
  }
  return false; // an object's hit does not reach its parent's names
}

/// Pass two: the collected names wherever else they are written (a
/// transcript, a note).
void replace_names(nlohmann::json& j, const std::vector<std::string>& names, bool& changed) {
  if (j.is_string()) {
    auto& text = j.get_ref<std::string&>();
    for (const auto& name : names)
      for (auto at = text.find(name); at != std::string::npos;
           at = text.find(name, at + redacted_text.size())) {
        text.replace(at, name.size(), redacted_text);
        changed = true;
      }
  } else if (j.is_array() || j.is_object()) {
    for (auto& v : j)
      replace_names(v, names, changed);
  }
}

} // namespace

std::string digits_of(std::string_view s) {
  std::string out;
  for (char c : s)
    if (c >= '0' && c <= '9')
      out += c;
  return out;
}

bool phone_matches(std::string_view value, std::string_view normalized) {
  if (normalized.empty())
    return false;
  // The bound of a stored number (event_model's number_of) holds after
  // normalizing: a value padded past it with separators is still the number.
  auto as_stored = normalize_phone(value);
  if (as_stored.size() > max_phone_length)
    return false;
  if (as_stored == normalized)
    return true;
  if (!looks_like_phone(value))
    return false;
  auto v = digits_of(value);
  auto n = digits_of(normalized);
  if (v.size() < 7 || n.size() < 7)
    return false;
  if (v == n)
    return true;
  // A number written with its country code must match whole.
  auto first = value.find_first_not_of(' ');
  if (first != std::string_view::npos && value[first] == '+')
    return false;
  // The national form of a North American number (+1 and 10 digits): its
  // last 10 digits, the reading the erase endpoint gives a bare 10-digit
  // number. Elsewhere a shorter run of the same digits is another number
  // (+52 55 1234 5678 is not (551) 234-5678).
  return n.size() == 11 && n[0] == '1' && v.size() == 10 && n.compare(1, 10, v) == 0;
}

bool redact_phone(nlohmann::json& payload, std::string_view normalized) {
  bool changed = false;
  std::vector<std::string> names;
  walk(payload, normalized, changed, names);
  if (!names.empty())
    replace_names(payload, names, changed);
  return changed;
}

} // namespace cti
