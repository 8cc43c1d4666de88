#pragma once

#include <string>
#include <string_view>

namespace cti {

/// Normalizes a phone number for comparison: removes spaces, dots, dashes and
/// parentheses; keeps a leading '+' and everything else as is.
/// "(415) 555-0123" → "4155550123"; "+1 415.555.0123" → "+14155550123".
/// No country code is added or removed, so "+14155550123" and "4155550123"
/// stay different.
std::string normalize_phone(std::string_view number);

/// Longest normalized phone number an event's number field is taken as
/// (bytes); a longer value is no number (null).
inline constexpr std::size_t max_phone_length = 64;

} // namespace cti
