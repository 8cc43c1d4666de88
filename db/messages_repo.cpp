#include "db/messages_repo.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

namespace cti::db {

namespace {

using json = nlohmann::json;

template <class T>
json opt_json(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

} // namespace

std::vector<prepared_statement> messages_repo_statements() {
  return {
    {"messages_existing",
     // A lateral probe per key (see calls_repo.cpp: no plan may scan the table).
     "SELECT m.app_id, m.dialpad_message_id FROM jsonb_to_recordset($1::jsonb) AS x(a uuid, k bigint)"
     " CROSS JOIN LATERAL (SELECT app_id, dialpad_message_id FROM messages t WHERE t.app_id = x.a"
     " AND t.dialpad_message_id = x.k) AS m"},
    {"messages_write",
     "INSERT INTO messages (id, app_id, dialpad_message_id, direction, from_number, to_number,"
     " text, dialpad_user_id, sent_at, raw_payload, created_at)"
     " SELECT x.id, x.a, x.m, x.dir, x.fr, x.tn, x.tx, x.u,"
     " timestamptz 'epoch' + x.s * interval '1 microsecond', x.raw,"
     " timestamptz 'epoch' + x.c * interval '1 microsecond'"
     " FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, a uuid, m bigint, dir text, fr text,"
     " tn text, tx text, u bigint, s bigint, raw jsonb, c bigint)"
     " ON CONFLICT (app_id, dialpad_message_id) DO NOTHING"},
  };
}

std::set<message_key> existing_messages(pqxx::transaction_base& tx,
                                        const std::vector<message_key>& keys) {
  std::set<message_key> out;
  if (keys.empty())
    return out;
  json arr = json::array();
  for (const auto& k : keys)
    arr.push_back({{"a", k.app_id}, {"k", k.dialpad_message_id}});
  for (const auto& row : tx.exec_prepared("messages_existing", dump(arr)))
    out.insert(message_key{row[0].as<std::string>(), row[1].as<int64_t>()});
  return out;
}

void write_messages(pqxx::transaction_base& tx, const std::vector<message_write>& rows) {
  if (rows.empty())
    return;
  std::string arr = "[";
  for (const auto& w : rows) {
    const auto& m = *w.row;
    json j = {
      {"id", m.id},
      {"a", w.app_id},
      {"m", m.dialpad_message_id},
      {"dir", opt_json(m.direction)},
      {"fr", opt_json(m.from_number)},
      {"tn", opt_json(m.to_number)},
      {"tx", opt_json(m.text)},
      {"u", opt_json(m.dialpad_user_id)},
      {"s", m.sent_at.time_since_epoch().count()},
      {"c", m.created_at.time_since_epoch().count()},
    };
    auto text = dump(j);
    text.pop_back(); // the closing brace: the payload follows
    if (arr.size() > 1)
      arr += ',';
    arr += text;
    arr += R"(,"raw":)";
    arr += w.raw_payload != nullptr && !w.raw_payload->empty() ? *w.raw_payload : "null";
    arr += '}';
  }
  arr += ']';
  tx.exec_prepared("messages_write", arr);
}

} // namespace cti::db
