#include "db/messages_repo.hpp"

#include <pqxx/pqxx>

#include "db/json_rows.hpp"

namespace cti::db {

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
  json_rows arr;
  for (const auto& k : keys)
    arr.add({{"a", k.app_id}, {"k", k.dialpad_message_id}});
  for (const auto& row : tx.exec_prepared("messages_existing", arr.text()))
    out.insert(message_key{row[0].as<std::string>(), row[1].as<int64_t>()});
  return out;
}

void write_messages(pqxx::transaction_base& tx, const std::vector<message_write>& rows) {
  if (rows.empty())
    return;
  static const std::string none;
  json_rows arr;
  for (const auto& w : rows) {
    const auto& m = *w.row;
    arr.add({{"id", m.id},
             {"a", w.app_id},
             {"m", m.dialpad_message_id},
             {"dir", opt_json(m.direction)},
             {"fr", opt_json(m.from_number)},
             {"tn", opt_json(m.to_number)},
             {"tx", opt_json(m.text)},
             {"u", opt_json(m.dialpad_user_id)},
             {"s", m.sent_at.time_since_epoch().count()},
             {"c", m.created_at.time_since_epoch().count()}},
            w.raw_payload != nullptr ? w.raw_payload : &none);
  }
  tx.exec_prepared("messages_write", arr.text());
}

} // namespace cti::db
