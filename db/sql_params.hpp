#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <pqxx/field>
#include <pqxx/prepared_statement.hxx>

#include "domain/time_format.hpp"

namespace cti::db {

/// Statement parameters that may be NULL (libpqxx 6.4 has no std::optional
/// parameters; a null `const char*` is SQL NULL). Timestamps travel as epoch
/// microseconds; SQL turns them back with `cti_ts($n)`-style expressions
/// (see `ts_param`).
class sql_params {
public:
  /// Appends a text value, or NULL.
  sql_params& text(const std::optional<std::string>& v) {
    values_.push_back(v);
    return *this;
  }
  /// Appends an integer, or NULL.
  sql_params& int64(const std::optional<int64_t>& v) {
    values_.push_back(v ? std::optional<std::string>{std::to_string(*v)} : std::nullopt);
    return *this;
  }
  /// Appends a timestamp as epoch microseconds, or NULL.
  sql_params& time(const std::optional<timestamp>& v) {
    return int64(v ? std::optional<int64_t>{v->time_since_epoch().count()} : std::nullopt);
  }
  /// Appends a boolean.
  sql_params& boolean(bool v) {
    values_.emplace_back(v ? "true" : "false");
    return *this;
  }
  /// The parameters for `exec_params` / `exec_prepared`. Valid while `*this` lives.
  auto dynamic() {
    ptrs_.clear();
    for (const auto& v : values_)
      ptrs_.push_back(v ? v->c_str() : nullptr);
    return pqxx::prepare::make_dynamic_params(ptrs_);
  }

private:
  std::vector<std::optional<std::string>> values_;
  std::vector<const char*> ptrs_;
};

/// A nullable column as an optional.
template <class T>
std::optional<T> opt(const pqxx::field& f) {
  if (f.is_null())
    return std::nullopt;
  return f.as<T>();
}

/// A column of epoch microseconds (see `us_of`) as a time.
inline timestamp time_of(const pqxx::field& f) {
  return timestamp{std::chrono::microseconds{f.as<int64_t>()}};
}

/// A nullable column of epoch microseconds as an optional time.
inline std::optional<timestamp> opt_time(const pqxx::field& f) {
  if (f.is_null())
    return std::nullopt;
  return time_of(f);
}

/// A timestamptz column selected as it is (text output, ISO DateStyle):
/// cheaper for Postgres than converting to epoch microseconds in SQL.
inline timestamp pg_time_of(const pqxx::field& f) {
  auto t = parse_pg_timestamptz(std::string_view{f.c_str(), f.size()});
  if (!t)
    throw std::runtime_error("unexpected timestamptz text");
  return *t;
}

/// A nullable timestamptz column selected as it is.
inline std::optional<timestamp> opt_pg_time(const pqxx::field& f) {
  if (f.is_null())
    return std::nullopt;
  return pg_time_of(f);
}

/// SQL for "parameter $n holds epoch microseconds" → timestamptz.
inline std::string ts_param(int n) {
  return "(timestamptz 'epoch' + $" + std::to_string(n) + "::bigint * interval '1 microsecond')";
}

/// SQL for a timestamptz column → epoch microseconds (exact).
inline std::string us_of(const std::string& column) {
  return "(extract(epoch FROM " + column + ") * 1000000)::bigint";
}

} // namespace cti::db
