#include "db/apps_repo.hpp"

#include <pqxx/pqxx>

namespace cti::db {

namespace {

app_info to_app_info(const pqxx::result& res) {
  app_info out;
  if (res.empty())
    return out;
  const auto& row = res[0];
  out.found = true;
  out.id = row["id"].as<std::string>();
  out.is_active = row["is_active"].as<bool>();
  out.allow_unsigned = !row["allow_unsigned_webhooks"].is_null()
                       && row["allow_unsigned_webhooks"].as<bool>();
  // Still sealed (hex): the tenant registry opens it with the node's key.
  if (!row["webhook_secret_sealed"].is_null())
    out.webhook_secret = row["webhook_secret_sealed"].as<std::string>();
  return out;
}

} // namespace

app_info find_app(pqxx::transaction_base& tx, const std::string& app_id) {
  auto out = to_app_info(tx.exec_prepared("app_by_id", app_id));
  if (!out.found)
    out.id = app_id;
  return out;
}

app_info find_app_by_org(pqxx::transaction_base& tx, int64_t org_id) {
  return to_app_info(tx.exec_prepared("app_by_org", org_id));
}

} // namespace cti::db
