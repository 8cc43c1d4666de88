#include "domain/json_limits.hpp"

#include <algorithm>
#include <climits>

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

} // namespace cti
