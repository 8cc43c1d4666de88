#include "domain/time_format.hpp"

#include <cstdio>

namespace cti {

namespace {

// Howard Hinnant's days_from_civil: proleptic Gregorian date → days since epoch.
constexpr long long days_from_civil(long long y, unsigned m, unsigned d) {
  y -= m <= 2;
  const long long era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<long long>(doe) - 719468;
}

bool read_digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size())
    return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

bool is_leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int days_in_month(int y, int m) {
  static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

} // namespace

std::string format_rfc3339(timestamp t) {
  using namespace std::chrono;
  auto us = t.time_since_epoch().count();
  auto ms_total = us >= 0 ? us / 1000 : -((-us + 999) / 1000);
  auto secs = ms_total >= 0 ? ms_total / 1000 : -((-ms_total + 999) / 1000);
  auto ms = static_cast<int>(ms_total - secs * 1000);
  auto days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
  auto sod = secs - days * 86400;
  // civil_from_days
  long long z = days + 719468;
  const long long era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  long long y = static_cast<long long>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
  if (y < 0 || y > 9999) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", y, m, d,
                  static_cast<int>(sod / 3600), static_cast<int>(sod % 3600 / 60),
                  static_cast<int>(sod % 60), ms);
    return buf;
  }
  // The common case without printf (hot: every time field of every listed row).
  std::string out(24, '0');
  auto put = [&out](std::size_t pos, unsigned v, int width) {
    for (int i = width - 1; i >= 0; --i, v /= 10)
      out[pos + static_cast<std::size_t>(i)] = static_cast<char>('0' + v % 10);
  };
  put(0, static_cast<unsigned>(y), 4);
  out[4] = '-';
  put(5, m, 2);
  out[7] = '-';
  put(8, d, 2);
  out[10] = 'T';
  put(11, static_cast<unsigned>(sod / 3600), 2);
  out[13] = ':';
  put(14, static_cast<unsigned>(sod % 3600 / 60), 2);
  out[16] = ':';
  put(17, static_cast<unsigned>(sod % 60), 2);
  out[19] = '.';
  put(20, static_cast<unsigned>(ms), 3);
  out[23] = 'Z';
  return out;
}

std::optional<timestamp> parse_rfc3339(std::string_view s, bool round_up) {
  int year, month, day, hour, minute, second;
  if (!read_digits(s, 0, 4, year) || s.size() < 19 || s[4] != '-'
      || !read_digits(s, 5, 2, month) || s[7] != '-' || !read_digits(s, 8, 2, day)
      || (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
      || !read_digits(s, 11, 2, hour) || s[13] != ':'
      || !read_digits(s, 14, 2, minute) || s[16] != ':'
      || !read_digits(s, 17, 2, second))
    return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month)
      || hour > 23 || minute > 59 || second > 60)
    return std::nullopt;
  std::size_t pos = 19;
  long long micros = 0;
  bool beyond = false; // a nonzero digit past the microsecond (round_up only)
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 6)
        micros = micros * 10 + (s[pos] - '0');
      else if (s[pos] != '0' && round_up)
        beyond = true;
      ++digits;
      ++pos;
    }
    // RFC 3339 sets no limit on the fraction's digits; past the
    // microsecond they only round (round_up) or are dropped.
    if (digits == 0)
      return std::nullopt;
    for (auto i = digits; i < 6; ++i)
      micros *= 10;
    if (beyond)
      ++micros;
  }
  if (pos >= s.size())
    return std::nullopt;
  long long offset_seconds = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    int oh, om;
    if (!read_digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':'
        || !read_digits(s, pos + 4, 2, om) || oh > 23 || om > 59)
      return std::nullopt;
    offset_seconds = (oh * 3600LL + om * 60LL) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size())
    return std::nullopt;
  if (second == 60) // a leap second folds into the next second
    second = 59, micros += 1000000;
  long long secs = days_from_civil(year, static_cast<unsigned>(month),
                                   static_cast<unsigned>(day)) * 86400LL
                   + hour * 3600LL + minute * 60LL + second - offset_seconds;
  return timestamp{std::chrono::microseconds{secs * 1000000LL + micros}};
}

timestamp now_utc() {
  return std::chrono::time_point_cast<std::chrono::microseconds>(
    std::chrono::system_clock::now());
}

std::optional<timestamp> parse_pg_timestamptz(std::string_view t) {
  auto digits = [&t](std::size_t pos, std::size_t n, int& out) {
    if (pos + n > t.size())
      return false;
    out = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
      if (t[i] < '0' || t[i] > '9')
        return false;
      out = out * 10 + (t[i] - '0');
    }
    return true;
  };
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (t.size() < 22 || !digits(0, 4, year) || t[4] != '-' || !digits(5, 2, month) || t[7] != '-'
      || !digits(8, 2, day) || t[10] != ' ' || !digits(11, 2, hour) || t[13] != ':'
      || !digits(14, 2, minute) || t[16] != ':' || !digits(17, 2, second))
    return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60)
    return std::nullopt;
  std::size_t pos = 19;
  long long micros = 0;
  if (pos < t.size() && t[pos] == '.') {
    ++pos;
    int n = 0;
    while (pos < t.size() && t[pos] >= '0' && t[pos] <= '9' && n < 6) {
      micros = micros * 10 + (t[pos] - '0');
      ++pos;
      ++n;
    }
    if (n == 0)
      return std::nullopt;
    for (; n < 6; ++n)
      micros *= 10;
  }
  if (pos >= t.size() || (t[pos] != '+' && t[pos] != '-'))
    return std::nullopt;
  int sign = t[pos] == '-' ? -1 : 1;
  int oh = 0, om = 0, os = 0;
  if (!digits(pos + 1, 2, oh))
    return std::nullopt;
  pos += 3;
  if (pos < t.size()) {
    if (t[pos] != ':' || !digits(pos + 1, 2, om))
      return std::nullopt;
    pos += 3;
    if (pos < t.size()) {
      if (t[pos] != ':' || !digits(pos + 1, 2, os))
        return std::nullopt;
      pos += 3;
    }
  }
  if (pos != t.size())
    return std::nullopt;
  long long offset = sign * (oh * 3600LL + om * 60LL + os);
  long long secs = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day))
                     * 86400LL
                   + hour * 3600LL + minute * 60LL + second - offset;
  return timestamp{std::chrono::microseconds{secs * 1000000LL + micros}};
}

} // namespace cti
