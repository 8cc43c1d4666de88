#pragma once

#include <cstddef>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace cti {

/// Longest string (in characters) kept whole in a sanitized payload.
inline constexpr std::size_t sanitize_max_string_chars = 500;
/// Most array items kept in a sanitized payload.
inline constexpr std::size_t sanitize_max_array_items = 10;
/// Most keys an object may keep in a sanitized payload.
inline constexpr std::size_t sanitize_max_object_keys = 20;
/// Keys listed in `sample_keys` when an object is too large.
inline constexpr std::size_t sanitize_sample_keys = 5;
/// Deepest container level kept (the top-level value is level 1).
inline constexpr int sanitize_max_depth = 5;
/// Appended to a string cut to `sanitize_max_string_chars` characters.
inline constexpr std::string_view sanitize_truncated_marker = "[truncated]";
/// Replaces an object or array nested deeper than `sanitize_max_depth`.
inline constexpr std::string_view sanitize_max_depth_marker = "[max depth]";

/// The sanitized copy stored in calls.raw_payload (API.md "Event processing").
/// The rules, applied at every level:
///
/// - **Strings** over 500 characters (Unicode code points; a byte that is not
///   part of a well-formed UTF-8 sequence counts as one character) keep their
///   first 500 characters, never splitting a UTF-8 sequence, followed directly
///   by "[truncated]". Object keys follow the same rule; if two cut keys
///   collide, the first in iteration order wins.
/// - **Binary-looking keys** are removed from objects (no marker), the key
///   compared ASCII case-insensitively: "audio_data" and "file_data" whatever
///   their value; any key ending in "_data" or "_base64" whose value is a
///   string over 500 characters; any key whose value is a JSON binary value.
///   A binary value inside an array becomes the string "[binary]".
/// - **Arrays** over 10 items keep their first 10 (sanitized) plus one string
///   "[truncated N more]", N being the number of items dropped.
/// - **Objects** over 20 keys, counted after binary-looking keys are removed,
///   become {"_truncated": true, "sample_keys": [first 5 of those keys],
///   "total_keys": N} with N the same count. "First" is iteration order, which
///   for nlohmann::json is sorted key order, not the order on the wire. This
///   marker object keeps its shape at any level, so a level-5 one adds a
///   sixth level (its sample_keys array).
/// - **Nesting**: the top-level value is level 1; an object or array at level
///   6 or deeper becomes the string "[max depth]". Scalars are never cut for
///   depth, so a payload whose depth (json_depth) is 5 is kept whole.
///
/// Input of any type is accepted: a top-level scalar or array follows the same
/// rules, a discarded value gives null. Never throws: if memory runs out the
/// result is null. Recursion is bounded by the depth rule.
nlohmann::json sanitize_payload(const nlohmann::json& payload);

} // namespace cti
