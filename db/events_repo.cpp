#include "db/events_repo.hpp"

#include <map>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

namespace cti::db {

namespace {

using key = std::pair<std::string, std::string>; // (app_id, dialpad_event_id)

} // namespace

std::vector<ingest_result> insert_events(pqxx::transaction_base& tx,
                                         const std::vector<ingest_item>& items) {
  std::vector<ingest_result> out(items.size());
  // One row per key: a repeat inside the batch is a duplicate of the first.
  std::map<key, std::size_t> first;
  std::vector<std::size_t> rows;
  for (std::size_t i = 0; i < items.size(); ++i)
    if (first.emplace(key{items[i].app_id, items[i].dialpad_event_id}, i).second)
      rows.push_back(i);
  // The whole batch travels as one JSON array parameter of one prepared
  // statement: no re-planning per batch size, no per-value parameters. The
  // payloads are spliced in as they are (each was parsed as a JSON object by
  // the intake, so the array is valid JSON).
  std::string batch;
  std::size_t bytes = 2;
  for (auto r : rows)
    bytes += items[r].payload.size() + items[r].dialpad_event_id.size() + 128;
  batch.reserve(bytes);
  batch += '[';
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const auto& it = items[rows[r]];
    if (r > 0)
      batch += ',';
    batch += R"({"a":")";
    batch += it.app_id; // a UUID: nothing to escape
    batch += R"(","i":)";
    batch += nlohmann::json(it.dialpad_event_id).dump(-1, ' ', false,
                                                       nlohmann::json::error_handler_t::replace);
    batch += R"(,"t":)";
    batch += nlohmann::json(it.event_type).dump(-1, ' ', false,
                                                nlohmann::json::error_handler_t::replace);
    batch += R"(,"f":")";
    batch += it.format; // one of three fixed words
    batch += R"(","r":)";
    batch += std::to_string(it.received_at_us);
    batch += R"(,"p":)";
    batch += it.payload;
    batch += '}';
  }
  batch += ']';
  std::map<key, std::string> inserted;
  for (const auto& row : tx.exec_prepared("insert_events", batch))
    inserted.emplace(key{row[1].as<std::string>(), row[2].as<std::string>()},
                     row[0].as<std::string>());
  // Rows that were there before: look their ids up (a fresh statement sees
  // rows committed by a concurrent batch that won the race).
  std::map<key, std::string> existing;
  for (auto r : rows) {
    key k{items[r].app_id, items[r].dialpad_event_id};
    if (inserted.count(k) > 0)
      continue;
    auto res = tx.exec_prepared("event_id_by_key", k.first, k.second);
    if (!res.empty())
      existing.emplace(k, res[0][0].as<std::string>());
  }
  for (std::size_t i = 0; i < items.size(); ++i) {
    key k{items[i].app_id, items[i].dialpad_event_id};
    if (auto it = inserted.find(k); it != inserted.end()) {
      out[i].event_id = it->second;
      out[i].duplicate = first[k] != i;
    } else if (auto ex = existing.find(k); ex != existing.end()) {
      out[i].event_id = ex->second;
      out[i].duplicate = true;
    } else {
      throw pqxx::unexpected_rows("event neither inserted nor found: " + k.second);
    }
  }
  return out;
}

} // namespace cti::db
