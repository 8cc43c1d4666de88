#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

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

/// The deepest nesting the server reads in a request body or webhook.
inline constexpr int max_untrusted_json_depth = 64;

/// What is wrong with untrusted JSON text, if anything.
enum class json_fault { none, too_deep, not_json, duplicate_key };

/// Untrusted JSON text, read: `value` holds the document when `fault` is none.
struct untrusted_json {
  nlohmann::json value;
  json_fault fault = json_fault::none;
};

/// The server's one way to read JSON from a client or from Dialpad: the
/// depth first (json_depth, which does not recurse, so a depth bomb never
/// reaches the parser), then parse_json_unique_keys.
untrusted_json parse_untrusted_json(std::string_view text);

/// The client-facing message for `fault` ("JSON nested deeper than 64
/// levels", ...); empty for none.
const char* describe(json_fault fault);

} // namespace cti
