#include "db/messages_repo.hpp"

#include <pqxx/pqxx>

#include "db/sql_params.hpp"

namespace cti::db {

std::vector<prepared_statement> messages_repo_statements() {
  return {
    {"message_insert",
     "INSERT INTO messages (app_id, dialpad_message_id, direction, from_number, to_number,"
     " text, dialpad_user_id, sent_at, raw_payload)"
     " VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, " + ts_param(8) + ", $9::jsonb)"
     " ON CONFLICT (app_id, dialpad_message_id) DO NOTHING"
     " RETURNING id, " + us_of("created_at")},
  };
}

std::optional<message_record> insert_message(pqxx::transaction_base& tx,
                                             const std::string& app_id,
                                             const message_record& m,
                                             const std::string& raw_payload) {
  sql_params p;
  p.text(app_id)
    .int64(m.dialpad_message_id)
    .text(m.direction)
    .text(m.from_number)
    .text(m.to_number)
    .text(m.text)
    .int64(m.dialpad_user_id)
    .time(m.sent_at)
    .text(raw_payload);
  auto res = tx.exec_prepared("message_insert", p.dynamic());
  if (res.empty())
    return std::nullopt;
  auto out = m;
  out.id = res[0][0].as<std::string>();
  out.created_at = timestamp{std::chrono::microseconds{res[0][1].as<int64_t>()}};
  return out;
}

} // namespace cti::db
