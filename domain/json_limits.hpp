#pragma once

#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace cti {

/// The deepest nesting of objects/arrays in `text`, counted as API.md says
/// ({"a":1} is 1, [[1]] is 2, 7 is 0), scanning raw bytes without parsing
/// (string contents and escapes respected). Stops scanning as soon as the
/// depth exceeds `limit` and returns limit + 1. Does not validate the JSON:
/// an unmatched closer never takes the depth below 0, and an unterminated
/// string hides the rest of the text. A negative `limit` counts as 0; it
/// iterates, so any nesting is safe to measure.
int json_depth(std::string_view text, int limit);

/// Parses `text` like nlohmann::json::parse without exceptions (a discarded
/// value on a syntax error), but also discards a document in which one object
/// names a key twice (`{"a":1,"a":2}`, or `"a"` and `"\u0061"`): parsers
/// disagree on which value wins, so such a body is refused rather than read
/// one way here and another way elsewhere. `*duplicate` (when given) tells
/// that case from a syntax error.
nlohmann::json parse_json_unique_keys(std::string_view text, bool* duplicate = nullptr);

} // namespace cti
