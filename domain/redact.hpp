#pragma once

// Right to be forgotten inside stored webhook payloads: every string that
// is the erased phone number, and the names that sit next to it.

#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace cti {

/// The text that replaces an erased value.
inline constexpr std::string_view redacted_text = "[redacted]";

/// True when `value` writes the phone number `normalized` (as
/// normalize_phone gives it): the same after normalization, the same
/// digits, or, for a North American number (+1 and 10 digits), its
/// national form (the last 10 digits written without a `+`), when `value`
/// holds nothing but digits and `+ ( ) . -` and spaces.
bool phone_matches(std::string_view value, std::string_view normalized);

/// The digits of `s`.
std::string digits_of(std::string_view s);

/// Replaces, anywhere in `payload`, each string that is the number and each
/// writing of it inside a longer text (a transcript); in every object where
/// one was replaced (directly or in an array member), the name fields beside
/// it (`name`, `caller_name`, `display_name`, `contact_name`, `first_name`,
/// `last_name`), and those names wherever else the payload writes them.
/// Answers true when anything changed.
bool redact_phone(nlohmann::json& payload, std::string_view normalized);

} // namespace cti
