// The REST API's queries against a real Postgres: keyset pagination while
// calls arrive, tenant isolation, all-or-nothing batches, the index the
// call list uses, and key rotation taking effect through the registry.

#include "db/api_repo.hpp"

#include <optional>
#include <set>
#include <thread>

#include <caf/all.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "actors/hasher.hpp"
#include "actors/tenant_registry.hpp"
#include "actors/ws_stream.hpp"
#include "db/migrator.hpp"
#include "db/pool.hpp"
#include "db/statements.hpp"
#include "domain/api_key.hpp"
#include "domain/bcrypt.hpp"
#include "domain/pagination.hpp"
#include "tests/integration/test_db.hpp"

namespace {

using json = nlohmann::json;
using cti::db_query;
using cti::query_kind;

using cti::test::migrated_database;

std::unique_ptr<pqxx::connection> connect(const std::string& url) {
  return cti::test::connect_prepared(url);
}

db_query query(query_kind kind, const std::string& app, json args = json::object(),
               std::string target = {}) {
  db_query q;
  q.kind = kind;
  q.app_id = app;
  q.args = args.dump();
  q.target = std::move(target);
  q.request_id = "test";
  return q;
}

/// An actor system with a DB pool on `url`, for the actors under test.
struct pool_rig {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  cti::db_pool_actor pool;

  explicit pool_rig(const std::string& url) {
    cti::add_message_types(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    cti::db::pool_settings ps;
    ps.worker.conninfo = url;
    pool = cti::db::spawn_db_pool(*sys, ps);
  }
  ~pool_rig() { caf::anon_send_exit(pool, caf::exit_reason::user_shutdown); }

  /// Runs `q` on the pool and waits for it (a failure fails the test).
  void run(db_query q) {
    caf::scoped_actor self{*sys};
    self->request(pool, std::chrono::seconds{10}, cti::query_atom_v, std::move(q))
      .receive([](cti::db_answer&) {}, [](caf::error& e) { FAIL() << to_string(e); });
  }
};

/// A pool and a tenant registry over it (with its own key cache).
struct registry_rig : pool_rig {
  cti::tenant_registry_actor registry;

  explicit registry_rig(const std::string& url)
    : pool_rig(url),
      registry(cti::spawn_tenant_registry(*sys, pool, std::make_shared<cti::tenant_cache>(), {})) {}
  ~registry_rig() { caf::anon_send_exit(registry, caf::exit_reason::user_shutdown); }
};

/// Inserts a call started `minutes` after a fixed origin.
void insert_call(const std::string& url, const std::string& app, int64_t dialpad_id, int minutes,
                 int64_t user = 0) {
  pqxx::connection c{url};
  pqxx::work tx{c};
  tx.exec_params("INSERT INTO calls (app_id, dialpad_call_id, status, started_at, direction,"
                 " from_number, to_number, dialpad_user_id)"
                 " VALUES ($1::uuid, $2, 'ended', timestamptz '2026-01-01T00:00:00Z'"
                 " + $3 * interval '1 minute', 'inbound', '+15550000001', '+15550000002',"
                 " NULLIF($4, 0))",
                 app, dialpad_id, minutes, user);
  tx.commit();
}

/// Every call id of `app` walked page by page (`limit` per page), calling
/// `between` after each page.
std::vector<std::string> walk(pqxx::connection& c, const std::string& app, int limit,
                              const std::function<void(int)>& between = {}) {
  std::vector<std::string> ids;
  json args = {{"limit", limit}};
  for (int page = 0; page < 1000; ++page) {
    auto ans = cti::db::run_query(c, query(query_kind::calls_list, app, args));
    auto body = json::parse(ans.body);
    for (const auto& call : body["data"])
      ids.push_back(call["id"].get<std::string>());
    if (!body["has_more"].get<bool>())
      break;
    auto k = cti::decode_cursor(body["next_cursor"].get<std::string>(),
                                cti::db::cursor_scope(query_kind::calls_list, app));
    EXPECT_TRUE(k);
    args["after_us"] = k->time_us;
    args["after_id"] = k->id;
    if (between)
      between(page);
  }
  return ids;
}

TEST(ApiRepo, PaginationVisitsEveryCallOnceWhileCallsArrive) {
  auto url = migrated_database("api_pages");
  auto app = cti::test::create_app(url);
  for (int i = 0; i < 40; ++i)
    insert_call(url, app, 1000 + i, i % 10); // ties on started_at, broken by id
  auto c = connect(url);
  std::set<std::string> before;
  for (const auto& id : walk(*c, app, 500))
    before.insert(id);
  ASSERT_EQ(before.size(), 40u);
  // Newer calls arrive while a client pages through (they sort before the
  // cursor, so the walk must neither repeat nor skip the older ones).
  int next = 5000;
  auto ids = walk(*c, app, 7, [&](int) {
    insert_call(url, app, next++, 60);
    insert_call(url, app, next++, 60);
  });
  std::set<std::string> seen;
  for (const auto& id : ids)
    EXPECT_TRUE(seen.insert(id).second) << "visited twice: " << id;
  for (const auto& id : before)
    EXPECT_EQ(seen.count(id), 1u) << "skipped: " << id;
}

TEST(ApiRepo, AnotherAppsDataIsNotFoundByAnyPath) {
  auto url = migrated_database("api_isolation");
  auto a = cti::test::create_app(url);
  auto b = cti::test::create_app(url);
  insert_call(url, a, 77, 1, 900);
  auto c = connect(url);
  auto call_id = cti::test::query_value(url, "SELECT id FROM calls WHERE app_id = $1::uuid", {a});
  ASSERT_EQ(json::parse(cti::db::run_query(*c, query(query_kind::call_get, a, {}, call_id)).body)["dialpad_call_id"], 77);
  auto refused = [&](db_query q) {
    try {
      cti::db::run_query(*c, q);
      return false;
    } catch (const cti::db::api_error& e) {
      return e.code == cti::errc::not_found;
    }
  };
  EXPECT_TRUE(refused(query(query_kind::call_get, b, {}, call_id)));
  EXPECT_TRUE(refused(query(query_kind::call_get, b, {}, "77")));
  EXPECT_TRUE(refused(query(query_kind::call_patch, b, {{"crm_context_text", R"({"x":1})"}}, call_id)));
  auto list_b = json::parse(cti::db::run_query(*c, query(query_kind::calls_list, b, {{"limit", 50}})).body);
  EXPECT_TRUE(list_b["data"].empty());
  // A mapping of A's does not leak into B's filter.
  cti::db::run_query(*c, query(query_kind::map_one, a, {{"dialpad_user_id", 900}, {"crm_user_id", "u"}}));
  auto filtered = json::parse(cti::db::run_query(
    *c, query(query_kind::calls_list, b, {{"limit", 50}, {"crm_user_id", "u"}})).body);
  EXPECT_TRUE(filtered["data"].empty());
  auto own = json::parse(cti::db::run_query(
    *c, query(query_kind::calls_list, a, {{"limit", 50}, {"crm_user_id", "u"}})).body);
  EXPECT_EQ(own["data"].size(), 1u);
  EXPECT_EQ(own["data"][0]["crm_user_id"], "u");
}

// A voicemail delete takes its call's row before the voicemail's, the order
// a processing round takes them in (calls, then voicemails): a round that
// holds the call and then writes the voicemail while the delete waits goes
// through, and the delete after it; neither meets a deadlock. (Until the
// twenty-seventh session the delete took the voicemail first and waited for
// the call; the round then waited for the voicemail, and PostgreSQL aborted
// one of the two.)
TEST(ApiRepo, AVoicemailDeleteWaitsForARoundHoldingItsCallWithoutADeadlock) {
  using namespace std::chrono_literals;
  auto url = migrated_database("api_vm_delete_order");
  auto app = cti::test::create_app(url);
  insert_call(url, app, 88, 1, 900);
  auto call_id = cti::test::query_value(url, "SELECT id FROM calls WHERE app_id = $1::uuid", {app});
  cti::test::query_value(url, "UPDATE calls SET has_voicemail = true WHERE id = $1::uuid", {call_id});
  auto vm = cti::test::query_value(
    url,
    "INSERT INTO voicemails (app_id, call_id, dialpad_call_id, received_at)"
    " VALUES ($1::uuid, $2::uuid, 88, now()) RETURNING id",
    {app, call_id});
  // The round's part: the call locked, as lock_calls does.
  pqxx::connection round_conn{url};
  pqxx::work round{round_conn};
  round.exec_params("SELECT id FROM calls WHERE id = $1::uuid FOR UPDATE", call_id);
  // The delete, on its own connection, waits for the round.
  auto del_conn = connect(url);
  const auto pid = std::to_string(del_conn->backendpid());
  std::optional<int> status;
  std::string failure;
  std::thread deleting{[&] {
    try {
      status = cti::db::run_query(*del_conn, query(query_kind::voicemail_delete, app, {}, vm)).status;
    } catch (const std::exception& e) {
      failure = e.what();
    }
  }};
  EXPECT_TRUE(cti::test::eventually(
    [&] {
      return cti::test::query_value(url, "SELECT wait_event_type FROM pg_stat_activity WHERE pid = "
                                           + pid)
             == "Lock";
    },
    10s));
  // The round writes the voicemail, as lock_voicemails and the upsert do.
  std::string round_failure;
  try {
    round.exec_params("SELECT id FROM voicemails WHERE id = $1::uuid FOR UPDATE", vm);
    round.exec_params("UPDATE voicemails SET transcript = 'heard' WHERE id = $1::uuid", vm);
    round.commit();
  } catch (const std::exception& e) {
    round_failure = e.what();
  }
  deleting.join();
  EXPECT_EQ(round_failure, "");
  EXPECT_EQ(failure, "");
  EXPECT_EQ(status, std::optional<int>{204});
  EXPECT_EQ(cti::test::query_value(url, "SELECT count(*) FROM voicemails WHERE app_id = $1::uuid",
                                   {app}),
            "0");
  EXPECT_EQ(cti::test::query_value(url, "SELECT has_voicemail FROM calls WHERE id = $1::uuid",
                                   {call_id}),
            "f");
}

TEST(ApiRepo, TheServerRoleChangesRowsButNotTheSchemaAndRowLevelSecurityBindsIt) {
  auto url = migrated_database("api_server_role");
  auto a = cti::test::create_app(url);
  auto b = cti::test::create_app(url);
  insert_call(url, a, 81, 1, 900);
  insert_call(url, b, 82, 1, 901);
  auto c = connect(cti::test::as_server_role(url));
  {
    pqxx::work tx{*c};
    EXPECT_EQ(tx.exec1("SELECT current_user")[0].as<std::string>(), "cti_server");
    EXPECT_FALSE(tx.exec1("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user")[0]
                   .as<bool>());
    // Its cross-tenant work (pollers, retention) sees every app: policy server_unbound.
    EXPECT_EQ(tx.exec1("SELECT count(*) FROM calls")[0].as<int>(), 2);
  }
  // An app's request, as the server runs it: only that app's rows, even
  // through a forged filter.
  {
    pqxx::work tx{*c};
    tx.exec("SET LOCAL ROLE cti_tenant; SELECT set_config('cti.app_id', '" + a + "', true)");
    EXPECT_EQ(tx.exec_params1("SELECT count(*) FROM calls WHERE app_id = $1::uuid", b)[0].as<int>(), 0);
    EXPECT_EQ(tx.exec1("SELECT count(*) FROM calls")[0].as<int>(), 1);
  }
  auto list_b = json::parse(cti::db::run_query(*c, query(query_kind::calls_list, b, {{"limit", 50}})).body);
  ASSERT_EQ(list_b["data"].size(), 1u);
  EXPECT_EQ(list_b["data"][0]["dialpad_call_id"], 82);
  cti::db::leave_tenant_mode(*c);
  // Rows yes, schema no: each refused statement in its own transaction.
  for (const char* sql : {"DROP TABLE calls", "TRUNCATE webhook_events", "CREATE TABLE stray (x int)",
                          "ALTER TABLE calls DISABLE ROW LEVEL SECURITY",
                          "DROP POLICY tenant_isolation ON calls",
                          "INSERT INTO schema_migrations (version, name, checksum) VALUES ('999', 'x', 'y')"}) {
    pqxx::work tx{*c};
    EXPECT_THROW(tx.exec(sql), pqxx::insufficient_privilege) << sql;
  }
  // It may check an up-to-date schema (start-up does), but not migrate it.
  auto check = cti::db::run_migrations(*c, cti::db::embedded_migrations());
  EXPECT_TRUE(check.ok) << check.error;
  EXPECT_TRUE(check.applied.empty());
  auto more = cti::db::embedded_migrations();
  more.push_back({"999_more.sql", "CREATE TABLE more_things (x int)"});
  auto refused = cti::db::run_migrations(*c, more);
  EXPECT_FALSE(refused.ok);
  EXPECT_NE(refused.error.find("MIGRATION_DATABASE_URL"), std::string::npos) << refused.error;
  EXPECT_EQ(cti::test::query_value(url, "SELECT count(*) FROM pg_class WHERE relname = 'more_things'"), "0");
}

TEST(ApiRepo, RowLevelSecurityHidesOtherAppsEvenFromAForgedFilter) {
  auto url = migrated_database("api_rls");
  auto a = cti::test::create_app(url);
  auto b = cti::test::create_app(url);
  insert_call(url, a, 71, 1, 900);
  insert_call(url, b, 72, 1, 901);
  insert_call(url, b, 73, 1, 901);
  auto c = connect(url);
  ASSERT_TRUE(cti::db::tenant_role_available(*c)) << "migration 005 made role cti_tenant";
  // What an App API transaction of app A runs as: a query that names B's
  // rows outright still finds none of them.
  {
    pqxx::work tx{*c};
    tx.exec("SET LOCAL ROLE cti_tenant; SELECT set_config('cti.app_id', '" + a + "', true)");
    EXPECT_EQ(tx.exec_params1("SELECT count(*) FROM calls WHERE app_id = $1::uuid", b)[0].as<int>(), 0);
    EXPECT_EQ(tx.exec1("SELECT count(*) FROM calls")[0].as<int>(), 1);
    EXPECT_EQ(tx.exec1("SELECT count(*) FROM calls WHERE dialpad_call_id IN (72, 73)")[0].as<int>(), 0);
    EXPECT_EQ(tx.exec1("SELECT count(*) FROM webhook_events WHERE app_id <> '" + a + "'::uuid")[0]
                .as<int>(),
              0);
    // Nor can it write into B.
    EXPECT_EQ(tx.exec_params("UPDATE calls SET status = 'ended' WHERE app_id = $1::uuid"
                             " RETURNING 1", b).size(),
              0u);
    EXPECT_THROW(tx.exec_params("INSERT INTO calls (app_id, dialpad_call_id, status, started_at)"
                                " VALUES ($1::uuid, 74, 'ringing', now())", b),
                 pqxx::sql_error);
  }
  // Without the app set, the role sees nothing at all.
  {
    pqxx::work tx{*c};
    tx.exec("SET LOCAL ROLE cti_tenant");
    EXPECT_EQ(tx.exec1("SELECT count(*) FROM calls")[0].as<int>(), 0);
  }
  // The App API queries run that way and still see their own app's rows.
  auto list_a = json::parse(cti::db::run_query(*c, query(query_kind::calls_list, a, {{"limit", 50}})).body);
  ASSERT_EQ(list_a["data"].size(), 1u);
  EXPECT_EQ(list_a["data"][0]["dialpad_call_id"], 71);
  auto list_b = json::parse(cti::db::run_query(*c, query(query_kind::calls_list, b, {{"limit", 50}})).body);
  EXPECT_EQ(list_b["data"].size(), 2u);
  // The owner's own work (pollers, retention) is not bound by the policies.
  EXPECT_EQ(cti::test::query_value(url, "SELECT count(*) FROM calls"), "3");
  // A per-app query leaves the session as cti_tenant for the next one of the
  // same app (no extra round trip); any other query, and every other job of
  // a worker (leave_tenant_mode), returns it to its own role first.
  auto owner_count = [&] {
    pqxx::work tx{*c};
    return tx.exec1("SELECT count(*) FROM calls")[0].as<int>();
  };
  EXPECT_EQ(owner_count(), 2); // still app B's session from the list above
  cti::db::run_query(*c, query(query_kind::app_get, a));
  EXPECT_EQ(owner_count(), 3);
  cti::db::run_query(*c, query(query_kind::calls_list, a, {{"limit", 50}}));
  EXPECT_EQ(owner_count(), 1);
  cti::db::leave_tenant_mode(*c);
  EXPECT_EQ(owner_count(), 3);
}

TEST(ApiRepo, RetentionActsForEveryAppWhateverTheSessionServedBefore) {
  auto url = migrated_database("api_retention_session");
  auto a = cti::test::create_app(url);
  auto b = cti::test::create_app(url);
  for (int i = 0; i < 3; ++i)
    insert_call(url, a, 600 + i, i);
  for (int i = 0; i < 2; ++i)
    insert_call(url, b, 700 + i, i);
  insert_call(url, b, 799, 1); // inside the window: stays
  cti::test::query_value(url, "UPDATE calls SET started_at = now() - interval '400 days'"
                              " WHERE dialpad_call_id <> 799 RETURNING 1");
  // The worker's session as the server leaves it after an App API read of
  // app B: tenant mode, bound to B. The retention job that lands on this
  // session next must still act for every app.
  auto c = connect(cti::test::as_server_role(url));
  auto list_b = json::parse(cti::db::run_query(*c, query(query_kind::calls_list, b, {{"limit", 50}})).body);
  ASSERT_EQ(list_b["data"].size(), 3u);
  // Batches of one row: the loop runs until a batch comes back short.
  auto ans = cti::db::run_query(*c, query(query_kind::retention_run, "", {{"batch", 1}}));
  ASSERT_EQ(ans.status, 200) << ans.body;
  auto totals = json::parse(ans.body);
  EXPECT_EQ(totals["calls"], 5) << totals;
  EXPECT_EQ(cti::test::query_value(url, "SELECT count(*) FROM calls WHERE app_id = $1::uuid", {a}), "0");
  EXPECT_EQ(cti::test::query_value(url, "SELECT string_agg(dialpad_call_id::text, ',') FROM calls"
                                        " WHERE app_id = $1::uuid", {b}),
            "799");
  // One audit entry per app that lost rows, as the system.
  EXPECT_EQ(cti::test::query_value(url, "SELECT count(*) FROM activity_audit_log"
                                        " WHERE action = 'retention.applied' AND actor = 'system'"),
            "2");
}

TEST(ApiRepo, BatchMappingIsAllOrNothing) {
  auto url = migrated_database("api_batch");
  auto app = cti::test::create_app(url);
  auto c = connect(url);
  // The last row breaks a database rule (a blank CRM id): nothing is written.
  json bad = {{"mappings", {{{"dialpad_user_id", 1}, {"crm_user_id", "a"}},
                            {{"dialpad_user_id", 2}, {"crm_user_id", "b"}},
                            {{"dialpad_user_id", 3}, {"crm_user_id", " "}}}}};
  EXPECT_ANY_THROW(cti::db::run_query(*c, query(query_kind::map_batch, app, bad)));
  EXPECT_EQ(cti::test::query_value(url, "SELECT count(*) FROM dialpad_user_mappings"), "0");
  json good = {{"mappings", {{{"dialpad_user_id", 1}, {"crm_user_id", "a"}},
                             {{"dialpad_user_id", 2}, {"crm_user_id", "b"}}}}};
  auto ans = cti::db::run_query(*c, query(query_kind::map_batch, app, good));
  EXPECT_EQ(json::parse(ans.body)["upserted"], 2);
  EXPECT_EQ(cti::test::query_value(url, "SELECT count(*) FROM dialpad_user_mappings"), "2");
}

TEST(ApiRepo, CallListUsesTheAppStartedIndex) {
  auto url = migrated_database("api_explain");
  auto app = cti::test::create_app(url);
  {
    pqxx::connection c{url};
    pqxx::work tx{c};
    // Enough rows (and statistics) that a sequential scan would be chosen
    // if the index did not serve the query.
    tx.exec_params("INSERT INTO calls (app_id, dialpad_call_id, status, started_at)"
                   " SELECT $1::uuid, g, 'ended', now() - g * interval '1 second'"
                   " FROM generate_series(1, 20000) AS g", app);
    tx.exec("ANALYZE calls");
    tx.commit();
  }
  pqxx::connection c{url};
  pqxx::read_transaction tx{c};
  auto plan = tx.exec_params(
    "EXPLAIN SELECT c.id FROM calls c LEFT JOIN dialpad_user_mappings m"
    " ON m.app_id = c.app_id AND m.dialpad_user_id = c.dialpad_user_id"
    " WHERE c.app_id = $1::uuid AND (c.started_at, c.id) < (now(), gen_random_uuid())"
    " ORDER BY c.started_at DESC, c.id DESC LIMIT 51", app);
  std::string text;
  for (const auto& row : plan)
    text += row[0].as<std::string>() + "\n";
  EXPECT_NE(text.find("calls_app_started_idx"), std::string::npos) << text;
  EXPECT_EQ(text.find("Sort"), std::string::npos) << text;
}

TEST(ApiRepo, RotationInvalidatesTheRegistryCacheAtOnce) {
  auto url = migrated_database("api_rotate");
  auto app = cti::test::create_app(url);
  pool_rig rig{url};
  auto& sys = *rig.sys;
  auto& pool = rig.pool;
  auto cache = std::make_shared<cti::tenant_cache>();
  cti::tenant_registry_settings rs;
  rs.hashers.push_back(cti::spawn_hasher(sys, 4));
  rs.ttl = std::chrono::hours{1}; // only invalidation may forget a key here
  auto registry = cti::spawn_tenant_registry(sys, pool, cache, rs);
  caf::scoped_actor self{sys};
  auto set_key = [&](const std::string& key) {
    json args = {{"key_id", cti::api_key_id(key)}, {"hash", cti::bcrypt_hash(key, 4)},
                 {"hint", cti::api_key_hint(key)}};
    cti::db_answer ans;
    self->request(pool, std::chrono::seconds{10}, cti::query_atom_v, query(query_kind::key_set, app, args))
      .receive([&](cti::db_answer& a) { ans = a; }, [](caf::error& e) { FAIL() << to_string(e); });
    bool done = false;
    self->request(registry, std::chrono::seconds{10}, cti::invalidate_atom_v, app)
      .receive([&](bool) { done = true; }, [](caf::error& e) { FAIL() << to_string(e); });
    EXPECT_TRUE(done);
  };
  auto auth = [&](const std::string& key) {
    cti::app_auth out;
    self->request(registry, std::chrono::seconds{10}, cti::auth_atom_v, key)
      .receive([&](cti::app_auth& a) { out = a; }, [](caf::error& e) { FAIL() << to_string(e); });
    return out;
  };
  auto k1 = cti::generate_api_key();
  set_key(k1);
  EXPECT_TRUE(auth(k1).valid);
  EXPECT_TRUE(auth(k1).valid);
  EXPECT_EQ(cache->bcrypt_verifications.load(), 1u); // the second came from the cache
  auto k2 = cti::generate_api_key();
  set_key(k2);
  EXPECT_FALSE(auth(k1).valid);
  auto a2 = auth(k2);
  EXPECT_TRUE(a2.valid);
  EXPECT_EQ(a2.app_id, app);
  self->send_exit(registry, caf::exit_reason::user_shutdown);
  for (auto& h : rs.hashers)
    self->send_exit(h, caf::exit_reason::user_shutdown);
}

// A key rotation closes the sessions opened with the old key and no
// other: neither a session whose key was checked before the app's tenant
// handled the close (a client that got the new key and connected at once)
// nor one opened with the new key before the close reached the tenant (on
// a peer, the close comes over the cluster link). Disabling the app closes
// every session.
TEST(ApiRepo, AKeyRotationClosesTheOldKeysSessionsAndKeepsTheNewKeys) {
  using namespace std::chrono_literals;
  auto url = migrated_database("api_close_race");
  auto app = cti::test::create_app(url);
  registry_rig rig{url};
  auto& sys = *rig.sys;
  auto& registry = rig.registry;
  caf::scoped_actor self{sys};
  auto set_key = [&](const std::string& key) {
    rig.run(query(query_kind::key_set, app,
              {{"key_id", cti::api_key_id(key)}, {"hash", cti::bcrypt_hash(key, 4)},
               {"hint", cti::api_key_hint(key)}}));
  };
  auto steady_ns = [] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
  };
  // What a session gets next: an event frame's or welcome's type, or
  // "close:<code>:<reason>" ("<nothing>" within `wait`). The marker that
  // ends the stream's head (never sent to a client) is passed over.
  auto next = [](caf::scoped_actor& s, std::chrono::milliseconds wait) {
    std::string got = "<head end>";
    while (got == "<head end>") {
      got = "<nothing>";
      s->receive(
        [&](cti::frame_atom, std::string& frame) {
          got = cti::is_head_end(frame) ? "<head end>"
                                        : json::parse(frame, nullptr, false).value("type", "<not json>");
        },
        [&](cti::close_atom, uint16_t code, std::string& reason) {
          got = "close:" + std::to_string(code) + ":" + reason;
        },
        caf::after(wait) >> [] {});
    }
    return got;
  };
  // Subscribes `s` with `key`, checked at `at`.
  auto subscribe = [&](caf::scoped_actor& s, const std::string& key, int64_t at) {
    cti::ws_filter filter;
    filter.key_id = cti::api_key_id(key);
    filter.authorized_at = at;
    self->send(registry, cti::subscribe_atom_v, app, caf::actor_cast<caf::actor>(s), filter);
  };
  // The caches forget, then the close goes out; answers a moment in
  // between: a key checked then was checked before the tenant handled the
  // close.
  auto close = [&](const std::string& reason) {
    self->request(registry, std::chrono::seconds{10}, cti::invalidate_atom_v, app)
      .receive([](bool) {}, [](caf::error& e) { FAIL() << to_string(e); });
    auto before = steady_ns();
    self->send(registry, cti::close_atom_v, app, uint16_t{1008}, reason);
    return before;
  };
  auto k1 = cti::generate_api_key();
  set_key(k1);
  caf::scoped_actor old_key{sys};
  subscribe(old_key, k1, steady_ns());
  EXPECT_EQ(next(old_key, 10s), "welcome");

  // Rotated: stored first; a session with the new key comes in before the
  // close does; then the caches forget and the close goes out.
  auto k2 = cti::generate_api_key();
  set_key(k2);
  caf::scoped_actor early{sys};
  subscribe(early, k2, steady_ns());
  EXPECT_EQ(next(early, 10s), "welcome");
  // Both keys checked before the tenant handled the close (as a slow
  // tenant sees them).
  auto checked = close("key revoked");
  caf::scoped_actor late_new{sys}, late_old{sys};
  subscribe(late_new, k2, checked);
  subscribe(late_old, k1, checked);
  EXPECT_EQ(next(late_new, 10s), "welcome");
  EXPECT_EQ(next(late_old, 10s), "close:1008:key revoked");
  EXPECT_EQ(next(old_key, 10s), "close:1008:key revoked");
  // Then an event: the new key's sessions get it (had the close reached
  // them, it would have been sent with the old key's, before the event).
  cti::applied_event ev;
  ev.app_id = app;
  ev.seq = 1;
  ev.event_type = "call.ring";
  self->send(registry, caf::publish_atom_v, ev);
  EXPECT_EQ(next(early, 10s), "event");
  EXPECT_EQ(next(late_new, 10s), "event");

  // Disabled: every session goes, and one checked before the close too.
  rig.run(query(query_kind::app_patch, app, {{"is_active", false}}));
  checked = close("app disabled");
  EXPECT_EQ(next(early, 10s), "close:1008:app disabled");
  EXPECT_EQ(next(late_new, 10s), "close:1008:app disabled");
  caf::scoped_actor after_disable{sys};
  subscribe(after_disable, k2, checked);
  EXPECT_EQ(next(after_disable, 10s), "close:1008:app disabled");
  self->send_exit(registry, caf::exit_reason::user_shutdown);
}

TEST(ApiRepo, TenantActorCachesMappingsUntilTheyChange) {
  auto url = migrated_database("api_tenant");
  auto app = cti::test::create_app(url);
  registry_rig rig{url};
  auto& sys = *rig.sys;
  auto& registry = rig.registry;
  caf::scoped_actor self{sys};
  auto crm = [&](int64_t user) {
    std::string out = "<error>";
    self->request(registry, std::chrono::seconds{10}, cti::crm_atom_v, app, user)
      .receive([&](std::string& s) { out = s; }, [](caf::error& e) { FAIL() << to_string(e); });
    return out;
  };
  rig.run(query(query_kind::map_one, app, {{"dialpad_user_id", 1}, {"crm_user_id", "first"}}));
  EXPECT_EQ(crm(1), "first");
  EXPECT_EQ(crm(2), "");
  // Changed behind the cache's back: the cache still answers the old value...
  rig.run(query(query_kind::map_one, app, {{"dialpad_user_id", 1}, {"crm_user_id", "second"}}));
  rig.run(query(query_kind::map_one, app, {{"dialpad_user_id", 2}, {"crm_user_id", "new"}}));
  EXPECT_EQ(crm(1), "first");
  EXPECT_EQ(crm(2), "");
  // ...until the change is announced, as the HTTP handler does after a mapping change.
  self->send(registry, cti::mappings_atom_v, app);
  EXPECT_EQ(crm(1), "second");
  EXPECT_EQ(crm(2), "new");
  // Applied events reach the app's tenant actor.
  cti::applied_event ev;
  ev.app_id = app;
  ev.seq = 7;
  self->send(registry, caf::publish_atom_v, ev);
  std::vector<int64_t> stats;
  EXPECT_TRUE(cti::test::eventually(
    [&] {
      self->request(registry, std::chrono::seconds{10}, cti::stats_atom_v, app)
        .receive([&](std::vector<int64_t>& s) { stats = s; }, [](caf::error&) {});
      return stats.size() == 4 && stats[0] == 7;
    },
    std::chrono::seconds{5}));
  EXPECT_EQ(stats[1], 1);
  self->send_exit(registry, caf::exit_reason::user_shutdown);
}

} // namespace

namespace {

// The stream read of WebSocket replays and gap filling: the frame kept
// with an event when there is one, else the event rebuilt from what is
// stored; in seq order either way, and an event sent back to the queue
// (POST /internal/events/{id}/replay: seq kept, processed_at cleared) is
// read too.
TEST(ApiRepo, TheStreamReadSendsKeptFramesAndRebuildsTheOthersInSeqOrder) {
  auto url = migrated_database("api_stream_read");
  auto app = cti::test::create_app(url);
  insert_call(url, app, 4242, 1);
  cti::test::query_value(
    url,
    "INSERT INTO webhook_events (app_id, dialpad_event_id, event_type, payload, format, state,"
    " received_at, processed_at, outcome, seq, published) VALUES"
    " ($1::uuid, 'e1', 'call.ring', '{\"call_id\": 4242}', 'seed', 'processed', now(), now(), 'applied', 1,"
    "  '{\"t\":\"call.ring\",\"at\":1769596200420000,\"c\":{\"status\":\"ringing\",\"z\":1,\"a\":2},"
    "\"v\":null,\"m\":null}'),"
    " ($1::uuid, 'e2', 'call.started', '{\"call_id\": 4242}', 'seed', 'processed', now(), now(), 'applied', 2,"
    "  NULL),"
    " ($1::uuid, 'e3', 'call.started', '{\"call_id\": 4242}', 'seed', 'pending', now(), NULL, NULL, 3,"
    "  NULL),"
    " ($1::uuid, 'e4', 'call.started', '{\"call_id\": 4242}', 'seed', 'processed', now(), now(), 'applied', 4,"
    "  '{\"t\":\"call.resumed\",\"at\":1769596295200000,\"c\":{\"status\":\"active\"},"
    "\"v\":null,\"m\":null}')"
    " RETURNING 1",
    {app});
  auto c = connect(url);
  auto ans = cti::db::run_query(*c, query(query_kind::stream_events, app,
                                          {{"after", 0}, {"upto", 10}, {"limit", 10}}));
  ASSERT_EQ(ans.applied.size(), 4u) << ans.body;
  for (std::size_t i = 0; i < 4; ++i)
    EXPECT_EQ(ans.applied[i].seq, static_cast<int64_t>(i + 1));
  // Kept: as sent live, the record's text as written.
  EXPECT_EQ(ans.applied[0].event_type, "call.ring");
  EXPECT_EQ(ans.applied[0].occurred_at_us, 1769596200420000);
  EXPECT_EQ(ans.applied[0].call_json, R"({"status":"ringing","z":1,"a":2})");
  EXPECT_EQ(ans.applied[3].event_type, "call.resumed");
  EXPECT_EQ(json::parse(ans.applied[3].call_json)["status"], "active");
  // Rebuilt: the stored name and the call as it is now.
  for (std::size_t i : {1, 2}) {
    EXPECT_EQ(ans.applied[i].event_type, "call.started");
    ASSERT_FALSE(ans.applied[i].call_json.empty());
    EXPECT_EQ(json::parse(ans.applied[i].call_json)["status"], "ended");
    EXPECT_GT(ans.applied[i].occurred_at_us, 0);
  }
}

} // namespace
