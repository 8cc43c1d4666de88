#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace cti {

/// Wall-clock instant with microsecond resolution (Postgres' own).
using timestamp = std::chrono::time_point<std::chrono::system_clock, std::chrono::microseconds>;

/// Formats `t` as RFC 3339 UTC with milliseconds: `2026-01-28T10:30:00.123Z`.
std::string format_rfc3339(timestamp t);

/// Parses an RFC 3339 date-time (`T` or space separator, optional fraction of
/// any number of digits, `Z` or a `±hh:mm` offset). Returns nothing when `text` is
/// not exactly one such value. Digits past the microsecond are dropped, or,
/// with `round_up`, round the time up to the next microsecond (a range bound:
/// `since=…00.0000009Z` must not take in a row stamped `…00.000000`).
std::optional<timestamp> parse_rfc3339(std::string_view text, bool round_up = false);

/// Parses PostgreSQL's ISO text output of a timestamptz
/// ("2026-01-28 10:30:00.123456+00", offset "+HH", "+HH:MM" or "+HH:MM:SS");
/// nothing for anything else (BC dates, infinity).
std::optional<timestamp> parse_pg_timestamptz(std::string_view text);

/// The current wall-clock time.
timestamp now_utc();

} // namespace cti
