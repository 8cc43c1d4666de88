// Three server processes on 127.0.0.1 sharing the test database, linked as
// a CAF cluster: push across nodes, cluster-wide invalidation, a node of
// another protocol refused, a cut link covered by the database, a killed
// node under load losing nothing and rejoining.

#include <atomic>
#include <csignal>
#include <memory>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/e2e/api_helpers.hpp"
#include "tests/e2e/server_process.hpp"
#include "tests/e2e/webhook_signing.hpp"
#include "tests/e2e/ws_client.hpp"
#include "tests/integration/test_db.hpp"

using namespace std::chrono_literals;
using cti::test::http_reply;
using cti::test::server_process;
using cti::test::ws_client;
using json = nlohmann::json;

namespace {

/// A node of a test cluster: its process and its cluster port.
struct node {
  std::unique_ptr<server_process> proc;
  uint16_t cluster_port = 0;
  std::string name;
};

std::map<std::string, std::string> node_env(const std::string& name, uint16_t cluster_port,
                                            const std::string& seeds,
                                            std::map<std::string, std::string> extra = {}) {
  extra.emplace("NODE_NAME", name);
  extra.emplace("CLUSTER_PORT", std::to_string(cluster_port));
  extra.emplace("CLUSTER_BIND", "127.0.0.1");
  extra.emplace("CLUSTER_ADVERTISE_HOST", "127.0.0.1");
  // 1 s (production: 2 s): CAF then closes a link silent for 3 s, so a
  // busy CI machine stalling a node for a moment does not cut its links.
  extra.emplace("CLUSTER_HEARTBEAT_MS", "1000");
  extra.emplace("API_KEY_BCRYPT_COST", "4");
  if (!seeds.empty())
    extra.emplace("CLUSTER_SEEDS", seeds);
  return extra;
}

/// A node started; `started` says whether it answers. No test assertion:
/// SetUpTestSuite uses it (gtest marks the tests of a suite whose
/// SetUpTestSuite recorded a failure as skipped, and ctest then reports them
/// skipped, not failed).
node launch_node(const std::string& name, const std::string& seeds, bool& started) {
  node n;
  n.name = name;
  n.cluster_port = cti::test::free_port();
  n.proc = std::make_unique<server_process>(node_env(name, n.cluster_port, seeds));
  started = n.proc->start();
  return n;
}

node start_node(const std::string& name, const std::string& seeds,
                std::map<std::string, std::string> extra = {}, uint16_t cluster_port = 0) {
  node n;
  n.name = name;
  n.cluster_port = cluster_port ? cluster_port : cti::test::free_port();
  n.proc = std::make_unique<server_process>(node_env(name, n.cluster_port, seeds, std::move(extra)));
  EXPECT_TRUE(n.proc->start()) << n.proc->output();
  return n;
}

json cluster_of(const node& n) {
  auto r = cti::test::internal_call(n.proc->port(), "GET", "/internal/cluster");
  EXPECT_EQ(r.status, 200) << r.body;
  return json::parse(r.body, nullptr, false);
}

/// Waits until `n` has `peers` linked peers (no test assertion while it
/// waits: see launch_node).
bool wait_peers(const node& n, uint64_t peers, std::chrono::milliseconds deadline = 20s) {
  return cti::test::eventually(
    [&] {
      auto r = cti::test::internal_call(n.proc->port(), "GET", "/internal/cluster");
      auto j = json::parse(r.body, nullptr, false);
      return r.status == 200 && j.is_object() && j["peers"] == peers;
    },
    deadline, 50ms);
}

std::string seed_of(const node& n) { return "127.0.0.1:" + std::to_string(n.cluster_port); }

/// A new app and its key, made through `n`.
std::pair<std::string, std::string> app_with_key(const node& n, const std::string& name) {
  auto app = cti::test::create_app_over_http(n.proc->port(), name);
  return {app, cti::test::create_key_over_http(n.proc->port(), app)};
}

/// A WebSocket client of `n` past its welcome (null, with a test failure,
/// when the upgrade is refused).
std::unique_ptr<ws_client> subscribed(const node& n, const std::string& key,
                                      const std::string& extra_query = "") {
  auto c = std::make_unique<ws_client>(n.proc->port(), "/ws?api_key=" + key + extra_query);
  if (!c->open()) {
    ADD_FAILURE() << "upgrade refused on " << n.name << ": " << c->status();
    return nullptr;
  }
  auto w = c->read(5s);
  EXPECT_TRUE(w && json::parse(*w)["type"] == "welcome") << n.name;
  return c;
}

json ring(const std::string& id, int64_t call) {
  return {{"event_type", "call.ring"}, {"event_id", id}, {"call_id", call},
          {"direction", "inbound"}, {"from_number", "+15550001000"},
          {"to_number", "+15550002000"}, {"timestamp", "2026-01-28T10:00:00Z"}};
}

json hangup(const std::string& id, int64_t call) {
  return {{"event_type", "call.ended"}, {"event_id", id}, {"call_id", call},
          {"timestamp", "2026-01-28T10:05:00Z"}};
}

/// Reads frames until seq `upto`, checking that they come in contiguous
/// order from `from`; returns the last seq read.
int64_t read_stream(ws_client& c, int64_t from, int64_t upto, std::chrono::seconds per_frame = 10s) {
  int64_t seq = from - 1;
  while (seq < upto) {
    auto f = c.read(per_frame);
    if (!f)
      return seq;
    auto j = json::parse(*f, nullptr, false);
    if (!j.is_object() || !j.contains("seq") || j["type"] == "welcome" || j["type"] == "pong")
      continue;
    EXPECT_EQ(j["seq"], seq + 1) << j.dump();
    if (j["seq"] != seq + 1)
      return seq;
    ++seq;
  }
  return seq;
}

class cluster_test : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    // A failure here fails every test of the suite (SetUp), with what each
    // node saw. Nothing here may record a test failure itself: gtest would
    // mark the suite's tests skipped, which ctest does not count as a
    // failure (that hid a node that could not start, once).
    setup_error.clear();
    bool started[3] = {false, false, false};
    n1 = new node{launch_node("c1", "", started[0])};
    n2 = new node{launch_node("c2", seed_of(*n1), started[1])};
    n3 = new node{launch_node("c3", seed_of(*n1), started[2])};
    auto describe = [](const std::string& what) {
      std::string e = what;
      for (auto* m : {n1, n2, n3}) {
        auto out = m->proc->output();
        e += "\n" + m->name + ": "
             + cti::test::internal_call(m->proc->port(), "GET", "/internal/cluster").body + "\n"
             + out.substr(out.size() > 6000 ? out.size() - 6000 : 0);
      }
      return e;
    };
    if (!started[0] || !started[1] || !started[2]) {
      setup_error = describe("a node did not start");
      return;
    }
    // Node 3 learns of node 2 from the table (its seed is node 1 only).
    for (auto* n : {n1, n2, n3})
      if (!wait_peers(*n, 2)) {
        setup_error = describe("the three nodes did not link within 20 s");
        break;
      }
  }
  void SetUp() override { ASSERT_TRUE(setup_error.empty()) << setup_error; }
  static void TearDownTestSuite() {
    for (auto* n : {n1, n2, n3}) {
      if (n && n->proc) {
        EXPECT_EQ(n->proc->stop(SIGTERM), 0) << n->proc->output();
      }
      delete n;
    }
    n1 = n2 = n3 = nullptr;
  }
  static node* n1;
  static node* n2;
  static node* n3;
  static inline std::string setup_error;
};

node* cluster_test::n1 = nullptr;
node* cluster_test::n2 = nullptr;
node* cluster_test::n3 = nullptr;

TEST_F(cluster_test, nodes_list_each_other_with_their_links_and_heartbeats) {
  auto j = cluster_of(*n2);
  EXPECT_EQ(j["node"], "c2");
  EXPECT_EQ(j["enabled"], true);
  EXPECT_EQ(j["protocol"], 1);
  std::map<std::string, json> by_name;
  for (const auto& n : j["nodes"])
    by_name[n["name"].get<std::string>()] = n;
  ASSERT_EQ(by_name.count("c1"), 1u) << j.dump();
  ASSERT_EQ(by_name.count("c3"), 1u) << j.dump();
  EXPECT_EQ(by_name["c2"]["status"], "self");
  EXPECT_EQ(by_name["c1"]["status"], "connected");
  EXPECT_EQ(by_name["c1"]["port"], n1->cluster_port);
  EXPECT_TRUE(by_name["c1"]["heartbeat_at"].is_string());
  EXPECT_TRUE(by_name["c1"]["link_since"].is_string());
  auto metrics = cti::test::internal_call(n2->proc->port(), "GET", "/metrics");
  auto m = json::parse(metrics.body, nullptr, false);
  EXPECT_EQ(m["cluster"]["peers"], 2) << metrics.body;
  auto prom = cti::test::internal_call(n2->proc->port(), "GET", "/metrics",
                                       {}, {{"Accept", "text/plain"}});
  EXPECT_NE(prom.body.find("\ncti_cluster_peers{node=\"c2\"} 2\n"), std::string::npos) << prom.body;
}

TEST_F(cluster_test, a_webhook_on_node_1_reaches_clients_on_nodes_2_and_3_in_seq_order) {
  auto [app, key] = app_with_key(*n1, "cluster push");
  auto before = cluster_of(*n2)["messages"]["received"].get<int64_t>();
  auto on2 = subscribed(*n2, key);
  auto on3 = subscribed(*n3, key);
  ASSERT_TRUE(on2 && on3);
  constexpr int events = 60;
  for (int i = 0; i < events; ++i)
    ASSERT_EQ(cti::test::post_signed_event(n1->proc->port(), app,
                                           ring("cp-" + std::to_string(i), 7000 + i).dump())
                .status,
              200);
  EXPECT_EQ(read_stream(*on2, 1, events), events);
  EXPECT_EQ(read_stream(*on3, 1, events), events);
  // They came over the links (the database's periodic check would be slower
  // and is not counted here).
  EXPECT_GE(cluster_of(*n2)["messages"]["received"].get<int64_t>() - before, 1);
}

TEST_F(cluster_test, a_key_rotated_on_node_1_is_refused_and_its_sessions_closed_on_2_and_3) {
  auto [app, old_key] = app_with_key(*n1, "cluster keys");
  auto calls = [&](const node& n, const std::string& key) {
    return cti::test::http_request(n.proc->port(), "GET", "/api/calls",
                                   {{"X-App-API-Key", key}}).status;
  };
  // The old key is verified, and cached, on every node.
  for (auto* n : {n1, n2, n3})
    ASSERT_EQ(calls(*n, old_key), 200);
  auto on2 = subscribed(*n2, old_key);
  auto on3 = subscribed(*n3, old_key);
  ASSERT_TRUE(on2 && on3);
  auto new_key = cti::test::create_key_over_http(n1->proc->port(), app);
  ASSERT_FALSE(new_key.empty());
  // Without the cluster the other nodes would accept the cached key until
  // its cache entry expires (5 s); the invalidation reaches them at once.
  for (auto* n : {n2, n3})
    EXPECT_TRUE(cti::test::eventually([&] { return calls(*n, old_key) == 401; }, 2500ms, 20ms))
      << n->name;
  for (auto* c : {on2.get(), on3.get()}) {
    EXPECT_FALSE(c->read(5s).has_value());
    EXPECT_EQ(c->close_code(), 1008);
    EXPECT_EQ(c->close_reason(), "key revoked");
  }
  for (auto* n : {n1, n2, n3})
    EXPECT_EQ(calls(*n, new_key), 200);
}

// A user mapping changed, or a number erased, through node 1 drops node 2's
// cached answers at once: with answers cached for a minute, node 2 shows
// the change only if the change's cluster message dropped them.
TEST(cluster_cache, a_mapping_change_or_an_erase_on_one_node_drops_the_cached_answers_of_the_other) {
  std::map<std::string, std::string> long_cache{{"API_RESPONSE_CACHE_MS", "60000"}};
  auto a = start_node("map-a", "", long_cache);
  auto b = start_node("map-b", seed_of(a), long_cache);
  ASSERT_TRUE(wait_peers(a, 1) && wait_peers(b, 1));
  auto [app, key] = app_with_key(a, "cluster mapping");
  auto event = ring("map-1", 7301);
  event["user_id"] = 42;
  ASSERT_EQ(cti::test::post_signed_event(a.proc->port(), app, event.dump()).status, 200);
  auto crm_on_b = [&, key = key] {
    auto r = cti::test::http_request(b.proc->port(), "GET", "/api/calls/7301", {{"x-app-api-key", key}});
    auto j = json::parse(r.body, nullptr, false);
    return r.status == 200 ? j["crm_user_id"] : json("missing");
  };
  ASSERT_TRUE(cti::test::eventually([&] { return crm_on_b().is_null(); }, 10s)); // cached on b
  auto mapped = cti::test::internal_call(a.proc->port(), "POST", "/internal/apps/" + app + "/users/map",
                                         json{{"dialpad_user_id", 42}, {"crm_user_id", "crm_new"}}.dump());
  ASSERT_EQ(mapped.status, 200) << mapped.body;
  EXPECT_TRUE(cti::test::eventually([&] { return crm_on_b() == "crm_new"; }, 10s)) << crm_on_b();

  // The caller's number erased through node 1: node 2 stops answering the
  // call (until the nineteenth session it kept it for the minute cached).
  auto erased = cti::test::internal_call(a.proc->port(), "POST", "/internal/apps/" + app + "/erase",
                                         json{{"phone_number", "+15550001000"}}.dump());
  ASSERT_EQ(erased.status, 200) << erased.body;
  EXPECT_EQ(json::parse(erased.body, nullptr, false).value("calls", -1), 1) << erased.body;
  EXPECT_TRUE(cti::test::eventually([&] { return crm_on_b() == "missing"; }, 10s)) << crm_on_b();
  EXPECT_EQ(b.proc->stop(SIGTERM), 0);
  EXPECT_EQ(a.proc->stop(SIGTERM), 0);
}

TEST_F(cluster_test, a_console_ticket_from_node_1_opens_the_view_on_node_3_which_sees_node_1s_events) {
  auto [app, key] = app_with_key(*n1, "cluster console");
  // The ticket is asked of one node and used on another (a load balancer
  // between the console's two requests): any node checks it.
  auto t = cti::test::internal_call(n1->proc->port(), "POST", "/internal/console/stream-ticket",
                                    json{{"app_id", app}}.dump());
  ASSERT_EQ(t.status, 200) << t.body;
  ws_client view{n3->proc->port(),
                 "/internal/console/stream?ticket=" + json::parse(t.body)["ticket"].get<std::string>()};
  ASSERT_TRUE(view.open()) << view.status() << " " << view.refusal_body();
  auto w = view.read(5s);
  ASSERT_TRUE(w && json::parse(*w)["type"] == "welcome");
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(cti::test::post_signed_event(n1->proc->port(), app,
                                           ring("cc-" + std::to_string(i), 7700 + i).dump())
                .status,
              200);
  EXPECT_EQ(read_stream(view, 1, 5), 5);
  // The key rotated on node 1 closes the app's sessions everywhere, not
  // the operator's view on node 3.
  auto on2 = subscribed(*n2, key);
  ASSERT_TRUE(on2);
  ASSERT_FALSE(cti::test::create_key_over_http(n1->proc->port(), app).empty());
  EXPECT_FALSE(on2->read(5s).has_value());
  EXPECT_EQ(on2->close_code(), 1008);
  ASSERT_EQ(cti::test::post_signed_event(n1->proc->port(), app, ring("cc-after", 7799).dump()).status,
            200);
  EXPECT_EQ(read_stream(view, 6, 6), 6);
}

TEST_F(cluster_test, a_node_of_another_protocol_is_refused_with_a_clear_line) {
  auto odd = start_node("c-odd", seed_of(*n1), {{"CTI_TEST_CLUSTER_PROTOCOL", "99"}});
  EXPECT_TRUE(cti::test::eventually(
    [&] {
      return odd.proc->output().find("speaks another cluster protocol") != std::string::npos;
    },
    10s, 50ms))
    << odd.proc->output();
  EXPECT_TRUE(cti::test::eventually(
    [&] {
      return n1->proc->output().find("speaks another cluster protocol") != std::string::npos;
    },
    10s, 50ms));
  EXPECT_EQ(cluster_of(odd)["peers"], 0);
  EXPECT_EQ(cluster_of(*n1)["peers"], 2);
  EXPECT_EQ(odd.proc->stop(SIGTERM), 0);
  // A graceful stop removes the node's row: nobody lists it any more.
  EXPECT_TRUE(cti::test::eventually(
    [&] {
      auto view = cluster_of(*n1);
      for (const auto& n : view["nodes"])
        if (n["name"] == "c-odd")
          return false;
      return true;
    },
    5s, 50ms));
}

TEST(cluster_off, a_single_node_says_so_and_the_endpoint_needs_the_bearer) {
  server_process alone{{{"API_KEY_BCRYPT_COST", "4"}}};
  ASSERT_TRUE(alone.start()) << alone.output();
  auto r = cti::test::internal_call(alone.port(), "GET", "/internal/cluster");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  EXPECT_EQ(j["enabled"], false);
  EXPECT_EQ(j["peers"], 0);
  EXPECT_EQ(j["node"], "e2e-node");
  EXPECT_TRUE(j["nodes"].empty());
  EXPECT_EQ(cti::test::http_request(alone.port(), "GET", "/internal/cluster").status, 401);
  auto m = json::parse(cti::test::internal_call(alone.port(), "GET", "/metrics").body);
  EXPECT_EQ(m["cluster"]["enabled"], false);
  EXPECT_EQ(alone.stop(SIGTERM), 0);
}

TEST(cluster_config, a_cluster_port_in_use_is_a_clear_start_up_error) {
  auto first = start_node("busy-a", "");
  // (A row an earlier run left in a reused test database does not count.)
  cti::test::query_value(cti::test::database_url(),
                         "WITH d AS (DELETE FROM cluster_nodes WHERE name = 'busy-b' RETURNING 1)"
                         " SELECT count(*) FROM d");
  server_process second{node_env("busy-b", first.cluster_port, "")};
  EXPECT_FALSE(second.start(std::chrono::milliseconds{5000}));
  EXPECT_EQ(second.wait_exit(std::chrono::milliseconds{10000}), 1) << second.output();
  EXPECT_NE(second.output().find("cannot listen on CLUSTER_PORT"), std::string::npos)
    << second.output();
  // It never joined, so it left no row advertising the other node's port
  // (its hub's first heartbeat wrote one until the twenty-eighth session).
  EXPECT_EQ(cti::test::query_value(cti::test::database_url(),
                                   "SELECT count(*) FROM cluster_nodes WHERE name = 'busy-b'"),
            "0");
  EXPECT_EQ(first.proc->stop(SIGTERM), 0);
}

TEST(cluster_names, a_second_node_claiming_a_linked_name_is_refused) {
  auto a = start_node("name-a", "");
  auto b = start_node("name-b", seed_of(a));
  ASSERT_TRUE(wait_peers(a, 1));
  auto linked_since = [&] {
    auto view = cluster_of(a);
    for (const auto& n : view["nodes"])
      if (n["name"] == "name-b")
        return n["link_since"];
    return json();
  };
  auto since = linked_since();
  ASSERT_TRUE(since.is_string());
  // Same name, another process (a replayed hello would look the same),
  // past the start-up check that refuses it (the test below).
  auto impostor = start_node("name-b", seed_of(a), {{"CTI_TEST_SKIP_NODE_NAME_CHECK", "1"}});
  EXPECT_TRUE(cti::test::eventually(
    [&] {
      return a.proc->output().find("another link to that node name is up") != std::string::npos;
    },
    10s, 50ms))
    << a.proc->output();
  EXPECT_EQ(cluster_of(a)["peers"], 1);
  EXPECT_EQ(linked_since(), since) << "the live link was replaced";
  EXPECT_EQ(cluster_of(impostor)["peers"], 0);
  // The impostor's own view says why: node a refused it.
  EXPECT_TRUE(cti::test::eventually(
    [&] {
      auto view = cluster_of(impostor);
      for (const auto& n : view["nodes"])
        if (n["name"] == "name-a")
          return n["status"] == "refused";
      return false;
    },
    10s, 50ms))
    << cluster_of(impostor).dump();
  for (auto* n : {&impostor, &b, &a})
    EXPECT_EQ(n->proc->stop(SIGTERM), 0);
}

TEST(cluster_names, a_node_named_like_a_live_node_does_not_start) {
  auto a = start_node("twin-a", "");
  auto row = [] {
    return cti::test::query_value(cti::test::database_url(),
                                  "SELECT host || ':' || port FROM cluster_nodes WHERE name = 'twin-a'");
  };
  ASSERT_TRUE(cti::test::eventually([&] { return !row().empty(); }, 10s)) << a.proc->output();
  const auto live = row();
  EXPECT_EQ(live, "127.0.0.1:" + std::to_string(a.cluster_port));
  // Another process under the same name: exit 2, naming the live node; the
  // live node's row still says where it is.
  server_process twin{node_env("twin-a", cti::test::free_port(), seed_of(a))};
  EXPECT_FALSE(twin.start(std::chrono::milliseconds{8000}));
  EXPECT_EQ(twin.wait_exit(std::chrono::milliseconds{10000}), 2) << twin.output();
  EXPECT_NE(twin.output().find("NODE_NAME is in use by a live node"), std::string::npos) << twin.output();
  EXPECT_NE(twin.output().find(live), std::string::npos) << twin.output();
  EXPECT_EQ(row(), live);
  EXPECT_EQ(cluster_of(a)["peers"], 0);
  // A node killed (its row left behind, fresh) starts again under its name.
  // (The row is made fresh again: a slow start must not outlive it.)
  a.proc->signal(SIGKILL);
  EXPECT_EQ(a.proc->wait_exit(std::chrono::milliseconds{10000}), 128 + SIGKILL);
  cti::test::query_value(cti::test::database_url(),
                         "UPDATE cluster_nodes SET heartbeat_at = now() WHERE name = 'twin-a' RETURNING 1");
  auto again = start_node("twin-a", "", {{"CLUSTER_HEARTBEAT_MS", "3000"}});
  EXPECT_TRUE(cti::test::eventually(
    [&] { return row() == "127.0.0.1:" + std::to_string(again.cluster_port); }, 10s));
  EXPECT_EQ(again.proc->stop(SIGTERM), 0);
}

TEST(cluster_link, a_cut_link_is_covered_by_the_database) {
  // Node b refuses everything its peer sends (as if the link were cut):
  // its clients still get every event, in order, from the database.
  auto a = start_node("cut-a", "");
  auto b = start_node("cut-b", seed_of(a), {{"CTI_TEST_CLUSTER_DROP_INBOUND", "1"}});
  ASSERT_TRUE(wait_peers(a, 1));
  ASSERT_TRUE(wait_peers(b, 1));
  auto [app, key] = app_with_key(a, "cut");
  auto c = subscribed(b, key);
  ASSERT_TRUE(c);
  for (int i = 0; i < 20; ++i)
    ASSERT_EQ(cti::test::post_signed_event(a.proc->port(), app,
                                           ring("cut-" + std::to_string(i), 8000 + i).dump())
                .status,
              200);
  EXPECT_EQ(read_stream(*c, 1, 20), 20);
  EXPECT_GE(cluster_of(b)["messages"]["refused"].get<int64_t>(), 1);
  c.reset(); // (a client that reads nothing more would hold b's shutdown for its close timeout)
  EXPECT_EQ(a.proc->stop(SIGTERM), 0);
  EXPECT_EQ(b.proc->stop(SIGTERM), 0);
}

TEST(cluster_kill, a_killed_node_loses_nothing_and_rejoins) {
  // Clients read after the load: room for every frame, and for a replay of
  // the whole stream.
  const std::map<std::string, std::string> roomy{{"WS_MAX_QUEUED_MESSAGES", "100000"},
                                                 {"WS_REPLAY_MAX", "100000"}};
  auto a = start_node("kill-a", "", roomy);
  auto b = start_node("kill-b", seed_of(a), roomy);
  auto c = start_node("kill-c", seed_of(a), roomy);
  ASSERT_TRUE(wait_peers(a, 2));
  ASSERT_TRUE(wait_peers(b, 2));
  ASSERT_TRUE(wait_peers(c, 2));
  auto [app, key] = app_with_key(a, "kill");
  auto on_b = subscribed(b, key);
  ASSERT_TRUE(on_b);

  // Calls posted round-robin to the three nodes (ring then hangup), while
  // all three process; node b is killed halfway.
  constexpr int calls = 1500;
  std::atomic<int> acknowledged{0};
  std::atomic<bool> b_dead{false};
  std::set<std::string> acked_ids[3]; // a retried event is acknowledged twice (duplicate)
  auto poster = [&](int lane) {
    node* nodes[3] = {&a, &b, &c};
    for (int i = lane; i < calls; i += 3) {
      for (int step = 0; step < 2; ++step) {
        auto id = "k-" + std::to_string(i) + (step == 0 ? "-r" : "-h");
        auto body = (step == 0 ? ring(id, 90000 + i) : hangup(id, 90000 + i)).dump();
        // Node b's share goes to node c once b is dead (a client retries).
        node* to = nodes[(i + step) % 3];
        if (to == &b && b_dead.load())
          to = &c;
        auto r = cti::test::post_signed_event(to->proc->port(), app, body);
        if (r.status != 200 && to == &b) {
          r = cti::test::post_signed_event(c.proc->port(), app, body);
        }
        if (r.status == 200) {
          acked_ids[lane].insert(id);
          ++acknowledged;
        }
      }
    }
  };
  std::vector<std::thread> lanes;
  for (int lane = 0; lane < 3; ++lane)
    lanes.emplace_back(poster, lane);
  ASSERT_TRUE(cti::test::eventually([&] { return acknowledged.load() >= calls; }, 60s, 5ms));
  b.proc->signal(SIGKILL);
  b_dead = true;
  EXPECT_EQ(b.proc->wait_exit(10s), 128 + SIGKILL);
  for (auto& t : lanes)
    t.join();
  int64_t last_seen_on_b = 0;
  while (auto f = on_b->read(200ms)) {
    auto j = json::parse(*f, nullptr, false);
    if (j.is_object() && j.contains("seq") && j["type"] != "welcome")
      last_seen_on_b = j["seq"].get<int64_t>();
  }

  // Every acknowledged event is processed exactly once, and every call ended.
  std::size_t acked = 0;
  for (auto& ids : acked_ids)
    acked += ids.size();
  EXPECT_EQ(acked, 2u * calls);
  const auto db = cti::test::database_url();
  EXPECT_TRUE(cti::test::eventually(
    [&] {
      return cti::test::query_value(db,
                                    "SELECT count(*) FROM webhook_events WHERE app_id = $1::uuid"
                                    " AND processed_at IS NULL",
                                    {app}) == "0";
    },
    60s, 100ms));
  EXPECT_EQ(cti::test::query_value(db, "SELECT count(*) FROM webhook_events WHERE app_id = $1::uuid",
                                   {app}),
            std::to_string(2 * calls));
  // Applied once: at its first attempt, never dead (a batch that died with
  // node b rolled back and was claimed again, attempts untouched).
  EXPECT_EQ(cti::test::query_value(db,
                                   "SELECT count(*) FROM webhook_events WHERE app_id = $1::uuid"
                                   " AND (attempts > 1 OR state <> 'processed')",
                                   {app}),
            "0");
  EXPECT_EQ(cti::test::query_value(db, "SELECT count(*) FROM calls WHERE app_id = $1::uuid"
                                       " AND status IN ('ended', 'missed', 'rejected')", {app}),
            std::to_string(calls));
  // One seq per event that changed something, contiguous from 1.
  auto last_seq = std::stoll(
    cti::test::query_value(db, "SELECT last_seq FROM apps WHERE id = $1::uuid", {app}));
  EXPECT_EQ(cti::test::query_value(db,
                                   "SELECT count(DISTINCT seq) = max(seq) AND count(seq) = max(seq)"
                                   " FROM webhook_events WHERE app_id = $1::uuid",
                                   {app}),
            "t");
  EXPECT_EQ(cti::test::query_value(db, "SELECT max(seq) FROM webhook_events WHERE app_id = $1::uuid",
                                   {app}),
            std::to_string(last_seq));

  // b's client resumes on c with `since` and sees the rest without a gap.
  auto resumed = subscribed(c, key, "&since=" + std::to_string(last_seen_on_b));
  ASSERT_TRUE(resumed);
  EXPECT_EQ(read_stream(*resumed, last_seen_on_b + 1, last_seq), last_seq);

  // b comes back (same name, same cluster port) and gets pushes again.
  auto b2 = start_node("kill-b", seed_of(a), roomy, b.cluster_port);
  ASSERT_TRUE(wait_peers(a, 2));
  ASSERT_TRUE(wait_peers(b2, 2));
  auto on_b2 = subscribed(b2, key);
  ASSERT_TRUE(on_b2);
  ASSERT_EQ(cti::test::post_signed_event(a.proc->port(), app, ring("k-after", 99999).dump()).status,
            200);
  EXPECT_EQ(read_stream(*on_b2, last_seq + 1, last_seq + 1), last_seq + 1);
  resumed.reset(); // (clients that read nothing more would hold the shutdowns)
  on_b2.reset();
  for (auto* n : {&a, &c, &b2})
    EXPECT_EQ(n->proc->stop(SIGTERM), 0);
}

TEST(cluster_tls, nodes_link_over_tls_and_a_node_without_the_ca_is_refused) {
  auto dir = "/tmp/cti-e2e-cluster-tls-" + std::to_string(::getpid());
  auto issue = [&](const std::string& ca, const std::string& leaf) {
    return "openssl req -x509 -newkey rsa:2048 -nodes -keyout " + dir + "/" + ca + ".key -out "
           + dir + "/" + ca + ".pem -days 1 -subj /CN=" + ca
           + " && openssl req -newkey rsa:2048 -nodes -keyout " + dir + "/" + leaf + ".key -out "
           + dir + "/" + leaf + ".csr -subj /CN=" + leaf + " && openssl x509 -req -in " + dir + "/"
           + leaf + ".csr -CA " + dir + "/" + ca + ".pem -CAkey " + dir + "/" + ca
           + ".key -CAcreateserial -out " + dir + "/" + leaf + ".pem -days 1";
  };
  auto [gen, gen_out] = cti::test::shell("rm -rf " + dir + " && mkdir -p " + dir + " && "
                                         + issue("ca", "node") + " && " + issue("rogue-ca", "rogue"));
  ASSERT_EQ(gen, 0) << gen_out;
  auto tls = [&](const std::string& ca, const std::string& leaf) {
    return std::map<std::string, std::string>{{"CLUSTER_TLS_CERT_FILE", dir + "/" + leaf + ".pem"},
                                              {"CLUSTER_TLS_KEY_FILE", dir + "/" + leaf + ".key"},
                                              {"CLUSTER_TLS_CA_FILE", dir + "/" + ca + ".pem"}};
  };
  auto a = start_node("tls-a", "", tls("ca", "node"));
  auto b = start_node("tls-b", seed_of(a), tls("ca", "node"));
  ASSERT_TRUE(wait_peers(a, 1)) << cluster_of(a).dump() << a.proc->output();
  ASSERT_TRUE(wait_peers(b, 1)) << cluster_of(b).dump() << b.proc->output();
  EXPECT_EQ(cluster_of(a)["tls"], true);
  auto [app, key] = app_with_key(a, "tls");
  auto on_b = subscribed(b, key);
  ASSERT_TRUE(on_b);
  ASSERT_EQ(cti::test::post_signed_event(a.proc->port(), app, ring("tls-1", 9100).dump()).status, 200);
  EXPECT_EQ(read_stream(*on_b, 1, 1), 1);

  // Whatever fails its handshake on a's cluster port (plain text here, a
  // node of another CA below) costs a none of its good links: CAF's TLS
  // session leaves the failure in the thread's OpenSSL error queue, and
  // without the server's own clearing of it the next read on the link to b
  // was taken for a fatal error.
  auto received = [&] {
    return cluster_of(a)["messages"]["received"].get<uint64_t>()
           + cluster_of(b)["messages"]["received"].get<uint64_t>();
  };
  auto linked_after = [&](const std::string& event_id, int64_t seq) {
    auto before = received();
    EXPECT_EQ(cti::test::post_signed_event(a.proc->port(), app, ring(event_id, 9100 + seq).dump()).status,
              200);
    EXPECT_EQ(read_stream(*on_b, seq, seq), seq);
    // The publish crossed the link, whichever node's poller applied it
    // (gap filling would deliver it to b too).
    EXPECT_TRUE(cti::test::eventually([&] { return received() > before; }, 5s, 20ms))
      << event_id << cluster_of(a).dump() << cluster_of(b).dump();
    EXPECT_EQ(cluster_of(a)["links_lost"], 0) << event_id;
    EXPECT_EQ(cluster_of(a)["peers"], 1) << event_id;
  };
  for (int i = 0; i < 3; ++i) {
    cti::test::raw_connection junk{a.cluster_port};
    ASSERT_TRUE(junk.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_TRUE(junk.closed_by_peer(5s));
  }
  linked_after("tls-2", 2);

  // A node whose certificate no accepted CA signed never becomes a peer.
  auto rogue = start_node("tls-rogue", seed_of(a), tls("rogue-ca", "rogue"));
  EXPECT_TRUE(cti::test::eventually(
    [&] {
      auto view = cluster_of(rogue); // (a temporary's member would dangle in the loop)
      for (const auto& n : view["nodes"])
        if (n["name"] == "tls-a" && n.contains("last_error"))
          return true;
      return false;
    },
    10s, 50ms))
    << cluster_of(rogue).dump();
  EXPECT_EQ(cluster_of(rogue)["peers"], 0);
  // (The rogue leaves first: its pollers share the queue, and an event it
  // applied would reach b from the database, not over the link.)
  EXPECT_EQ(rogue.proc->stop(SIGTERM), 0);
  linked_after("tls-3", 3);
  on_b.reset(); // (an open client that reads nothing holds b's shutdown for its close timeout)
  for (auto* n : {&a, &b})
    EXPECT_EQ(n->proc->stop(SIGTERM), 0);
  cti::test::shell("rm -rf " + dir);
}

/// One call's events, in order: how it rings, what happens, how it ends.
std::vector<json> call_story(int64_t call, int kind, const std::string& prefix) {
  auto id = [&](const char* step) { return prefix + std::to_string(call) + "-" + step; };
  auto at = [](int minute) { return "2026-01-28T10:0" + std::to_string(minute) + ":00Z"; };
  auto ev = [&](const char* type, const char* step, int minute) {
    return json{{"event_type", type}, {"event_id", id(step)}, {"call_id", call},
                {"timestamp", at(minute)}};
  };
  std::vector<json> out{ring(id("r"), call)};
  switch (kind % 4) {
    case 0: // answered, held, ended
      out.push_back(ev("call.started", "s", 1));
      out.push_back(ev("call.held", "h", 2));
      out.push_back(ev("call.ended", "e", 3));
      break;
    case 1: out.push_back(ev("call.missed", "m", 1)); break;
    case 2: out.push_back(ev("call.rejected", "x", 1)); break;
    default: // answered, ended, and a late duplicate of the start
      out.push_back(ev("call.started", "s", 1));
      out.push_back(ev("call.ended", "e", 2));
      out.push_back(ev("call.started", "s", 1));
      break;
  }
  return out;
}

/// Posts every story, calls spread over `lanes` threads, each event of a
/// call after the previous one was acknowledged, event i to port i % n.
void post_stories(const std::vector<uint16_t>& ports, const std::string& app,
                  const std::vector<std::vector<json>>& stories, std::atomic<int>& failures) {
  // Each call's events go in order on one lane; lanes run side by side.
  constexpr int lanes = 16;
  std::vector<std::thread> threads;
  for (int lane = 0; lane < lanes; ++lane)
    threads.emplace_back([&, lane] {
      std::size_t k = lane;
      for (std::size_t c = lane; c < stories.size(); c += lanes)
        for (const auto& ev : stories[c]) {
          auto r = cti::test::post_signed_event(ports[k++ % ports.size()], app, ev.dump());
          if (r.status != 200)
            ++failures;
        }
    });
  for (auto& t : threads)
    t.join();
}

std::string call_states(const std::string& app) {
  return cti::test::query_value(
    cti::test::database_url(),
    "SELECT string_agg(dialpad_call_id || ':' || status || ':' || coalesce(duration_seconds::text, '-')"
    " || ':' || coalesce(answered_at::text, '-') || ':' || coalesce(ended_at::text, '-'),"
    " ',' ORDER BY dialpad_call_id) FROM calls WHERE app_id = $1::uuid",
    {app});
}

bool drained(const std::string& app) {
  return cti::test::query_value(cti::test::database_url(),
                                "SELECT count(*) FROM webhook_events WHERE app_id = $1::uuid"
                                " AND state = 'pending'",
                                {app})
         == "0";
}

TEST(cluster_load, events_posted_round_robin_to_three_nodes_are_applied_once_as_on_one_node) {
  // About 20,000 events: 6,600 calls of 2 to 4 events each (a quarter of
  // them end with a duplicate, acknowledged but not stored again).
  std::vector<std::vector<json>> stories;
  std::size_t events = 0;
  std::size_t duplicates = 0;
  for (int i = 0; i < 6600; ++i) {
    stories.push_back(call_story(200000 + i, i, "rr-"));
    events += stories.back().size();
    duplicates += i % 4 == 3 ? 1 : 0;
  }
  ASSERT_GE(events, 19000u);
  std::atomic<int> failures{0};

  // The reference: one node alone.
  std::string single_app;
  {
    server_process alone{{{"API_KEY_BCRYPT_COST", "4"}}};
    ASSERT_TRUE(alone.start()) << alone.output();
    single_app = cti::test::create_app_over_http(alone.port(), "single");
    post_stories({alone.port()}, single_app, stories, failures);
    ASSERT_EQ(failures.load(), 0);
    ASSERT_TRUE(cti::test::eventually([&] { return drained(single_app); }, 120s, 100ms));
    EXPECT_EQ(alone.stop(SIGTERM), 0);
  }

  auto a = start_node("rr-a", "");
  auto b = start_node("rr-b", seed_of(a));
  auto c = start_node("rr-c", seed_of(a));
  ASSERT_TRUE(wait_peers(a, 2));
  auto app = cti::test::create_app_over_http(a.proc->port(), "round robin");
  post_stories({a.proc->port(), b.proc->port(), c.proc->port()}, app, stories, failures);
  ASSERT_EQ(failures.load(), 0);
  ASSERT_TRUE(cti::test::eventually([&] { return drained(app); }, 120s, 100ms));

  const auto db = cti::test::database_url();
  EXPECT_EQ(cti::test::query_value(db, "SELECT count(*) FROM webhook_events WHERE app_id = $1::uuid",
                                   {app}),
            std::to_string(events - duplicates))
    << "every distinct event stored once";
  EXPECT_EQ(cti::test::query_value(db,
                                   "SELECT count(*) FROM webhook_events WHERE app_id = $1::uuid"
                                   " AND (attempts > 1 OR state <> 'processed')",
                                   {app}),
            "0");
  // Every node processed a share (the queue is shared, not split).
  for (auto* n : {&a, &b, &c}) {
    auto m = json::parse(cti::test::internal_call(n->proc->port(), "GET", "/metrics").body, nullptr,
                         false);
    EXPECT_GT(m["event_processor"]["processed_last_minute"].get<int64_t>(), 0) << n->name;
  }
  auto states = call_states(app);
  EXPECT_FALSE(states.empty());
  EXPECT_EQ(states, call_states(single_app)) << "end states differ from the single-node run";
  for (auto* n : {&a, &b, &c})
    EXPECT_EQ(n->proc->stop(SIGTERM), 0);
}

} // namespace
