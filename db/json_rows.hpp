#pragma once

// The JSON array a batch statement takes as its one parameter
// (`jsonb_to_recordset($1::jsonb)`): one object per row.

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "domain/time_format.hpp"

namespace cti::db {

/// A nullable value as JSON (null when absent).
template <class T>
nlohmann::json opt_json(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

/// A nullable time as epoch microseconds (null when absent).
inline nlohmann::json opt_us(const std::optional<timestamp>& t) {
  return t ? nlohmann::json(t->time_since_epoch().count()) : nlohmann::json(nullptr);
}

/// Collects rows into the text of a JSON array.
class json_rows {
public:
  /// Appends `fields` as one object; `raw_payload`, when given, is spliced
  /// in as its `"raw"` member exactly as it is (it is JSON already, so it
  /// is not parsed and dumped again).
  void add(const nlohmann::json& fields, const std::string* raw_payload = nullptr) {
    auto obj = fields.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (raw_payload != nullptr) {
      obj.pop_back(); // the closing brace: the payload follows
      obj += R"(,"raw":)";
      obj += raw_payload->empty() ? std::string{"null"} : *raw_payload;
      obj += '}';
    }
    text_ += text_.size() > 1 ? "," : "";
    text_ += obj;
  }

  /// True when no row was added.
  bool empty() const { return text_.size() == 1; }

  /// The array's text.
  std::string text() const { return text_ + "]"; }

private:
  std::string text_ = "[";
};

} // namespace cti::db
