#pragma once

// Checks for REST parameters and body fields (API.md "Bad input"): each
// answers the valid value or nothing, and the handler names the parameter.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace cti {

/// Longest app name and CRM id, in characters (UTF-8 code points).
inline constexpr std::size_t max_name_length = 200;
inline constexpr std::size_t max_crm_id_length = 255;

/// `s` with ASCII letters lowercased (header values, media types).
std::string ascii_lower(std::string_view s);

/// A decimal integer (optional leading '-') that fits int64; nothing else.
std::optional<int64_t> parse_int64(std::string_view text);

/// A Dialpad id in a query or path: a positive decimal int64.
std::optional<int64_t> parse_dialpad_id(std::string_view text);

/// A Dialpad id in a JSON body: a positive integer number or numeric string.
std::optional<int64_t> json_dialpad_id(const nlohmann::json& v);

/// The length in bytes (1..4) of the well-formed UTF-8 sequence that starts
/// at `s[i]` (i < s.size()), or 0 when none does there.
std::size_t utf8_sequence_at(std::string_view s, std::size_t i);

/// At most `max_bytes` of `s` as valid UTF-8 text a database column takes:
/// never a sequence cut in two; a byte that starts no valid sequence, and
/// NUL, become '?'.
std::string utf8_text_prefix(std::string_view s, std::size_t max_bytes);

/// The number of code points of valid UTF-8 `s`; nothing when not UTF-8.
std::optional<std::size_t> utf8_length(std::string_view s);

/// A name or id: valid UTF-8, not blank, at most `max` characters.
bool is_valid_label(std::string_view s, std::size_t max);

/// `status=ringing,active`: every item a call status; nothing when one is
/// not (or the list is empty).
std::optional<std::vector<std::string>> parse_status_list(std::string_view text);

/// `inbound` / `outbound` only (the stored, normalized forms).
bool is_direction(std::string_view s);

/// `pending` / `in_progress` / `done`.
bool is_callback_status(std::string_view s);

} // namespace cti
