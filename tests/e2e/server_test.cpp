// The built binary over real HTTP, against the test Postgres.

#include <csignal>
#include <cstdio>
#include <cstring>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <fstream>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "domain/time_format.hpp"
#include "tests/e2e/api_helpers.hpp"
#include "tests/e2e/server_process.hpp"
#include "tests/e2e/shared_server.hpp"
#include "tests/integration/test_db.hpp"

using namespace std::chrono_literals;
using cti::test::http_reply;
using cti::test::http_request;
using cti::test::raw_connection;
using cti::test::server_process;
using json = nlohmann::json;

namespace {

const std::string bearer = "Bearer e2e-internal-secret-0123456789";

/// One server for the whole suite: start-up runs migrations and takes time.
class server_test : public cti::test::shared_server_test<server_test> {
public:
  static std::map<std::string, std::string> server_env() {
    return {};
  }

protected:
};

json parse(const http_reply& r) {
  auto j = json::parse(r.body, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.body;
  return j;
}

/// Sends `GET path` on the kept-alive `conn`; the answer's status (0 when
/// the write failed or nothing came within 5 s).
int get_on(raw_connection& conn, const std::string& path) {
  if (!conn.write("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n"))
    return 0;
  return conn.read_response(5s).status;
}

} // namespace

TEST_F(server_test, root_says_it_is_running) {
  auto r = http_request(port(), "GET", "/");
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.headers["content-type"], "application/json; charset=utf-8");
  EXPECT_EQ(parse(r), json({{"message", "CTI Server is running"}}));
  EXPECT_FALSE(r.headers["x-request-id"].empty());
}

TEST_F(server_test, echoes_the_client_request_id_and_logs_it) {
  auto r = http_request(port(), "GET", "/", {{"X-Request-Id", "e2e-rid-4711"}});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["x-request-id"], "e2e-rid-4711");
  // The access line carries the same id (the logger writes asynchronously).
  auto until = std::chrono::steady_clock::now() + 5s;
  bool logged = false;
  while (!logged && std::chrono::steady_clock::now() < until) {
    logged = server->output().find("\"request_id\":\"e2e-rid-4711\"") != std::string::npos;
    if (!logged)
      std::this_thread::sleep_for(20ms);
  }
  EXPECT_TRUE(logged) << server->output();
}

TEST_F(server_test, replaces_an_unsafe_request_id) {
  auto r = http_request(port(), "GET", "/", {{"X-Request-Id", "bad id with spaces"}});
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.headers["x-request-id"], "bad id with spaces");
  EXPECT_EQ(r.headers["x-request-id"].size(), 36u);
}

TEST_F(server_test, health_reports_the_database_ok) {
  auto r = http_request(port(), "GET", "/health");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = parse(r);
  EXPECT_EQ(j["status"], "healthy");
  EXPECT_EQ(j["checks"]["database"], "ok");
  ASSERT_TRUE(j["timestamp"].is_string());
  EXPECT_TRUE(cti::parse_rfc3339(j["timestamp"].get<std::string>()));
  EXPECT_EQ(j["timestamp"].get<std::string>().size(), 24u); // ...00.123Z
}

TEST_F(server_test, metrics_without_bearer_is_401) {
  for (const auto& headers : std::vector<std::map<std::string, std::string>>{
         {}, {{"Authorization", "Bearer wrong"}}, {{"Authorization", "Basic abc"}}}) {
    auto r = http_request(port(), "GET", "/metrics", headers);
    ASSERT_EQ(r.status, 401);
    auto j = parse(r);
    EXPECT_EQ(j["error"], "unauthorized");
    EXPECT_TRUE(j["message"].is_string());
  }
}

TEST(server_binary, a_request_its_client_abandoned_midway_is_no_request) {
  // A scanner or a client that drops half a request is nobody's 400: it is
  // neither counted in the metrics nor logged as an answered request.
  cti::test::server_process s;
  ASSERT_TRUE(s.start()) << s.output();
  int reads = 0; // metrics reads made, each one request
  auto metrics = [&] {
    ++reads;
    auto r = http_request(s.port(), "GET", "/metrics", {{"Authorization", bearer}});
    return json::parse(r.body, nullptr, false);
  };
  auto before = metrics()["total_requests"].get<double>();
  int reads_before = reads;
  for (const std::string& half :
       {std::string{"GE"}, std::string{"POST /webhooks/dialpad HTTP/1.1\r\nHost: x\r\n"},
        std::string{"POST /webhooks/dialpad HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"a\""}}) {
    cti::test::raw_connection c{s.port()};
    ASSERT_TRUE(c.write(half));
  } // closed here, midway
  ASSERT_TRUE(cti::test::eventually(
    [&] { return metrics()["active_connections"].get<double>() == 1; }, 10s));
  // Every read but the last is counted by the last (a request is counted
  // once its answer is written, which may be a moment after the client
  // read it): nothing else was.
  double after = 0;
  EXPECT_TRUE(cti::test::eventually(
    [&] {
      after = metrics()["total_requests"].get<double>();
      return after - before == reads - reads_before;
    },
    5s)) << after - before << " counted for " << reads - reads_before << " reads\n" << s.output();
  EXPECT_EQ(s.output().find("\"status\":400"), std::string::npos) << s.output();
}

TEST_F(server_test, metrics_with_bearer_reports_the_contract_fields) {
  http_request(port(), "GET", "/");
  auto r = http_request(port(), "GET", "/metrics", {{"Authorization", bearer}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = parse(r);
  for (const char* k : {"uptime_seconds", "memory_usage_mb", "active_connections",
                        "total_requests", "error_rate", "avg_response_time_ms"})
    EXPECT_TRUE(j[k].is_number()) << k;
  EXPECT_GE(j["total_requests"].get<double>(), 1);
  EXPECT_GT(j["memory_usage_mb"].get<double>(), 0);
  EXPECT_GE(j["active_connections"].get<double>(), 1); // this very request
  for (const char* k : {"idle", "active", "waiting"})
    EXPECT_TRUE(j["database_connection_pool"][k].is_number()) << k;
  for (const char* k : {"processed_last_minute", "queue_length", "error_count",
                        "avg_processing_time_ms", "dead"})
    EXPECT_TRUE(j["event_processor"][k].is_number()) << k;
  for (const char* k : {"connections", "messages_sent", "dropped_slow_consumers"})
    EXPECT_TRUE(j["websocket"][k].is_number()) << k;
  EXPECT_EQ(j["node"], "e2e-node");
}

TEST_F(server_test, metrics_speaks_prometheus_on_request) {
  auto a = http_request(port(), "GET", "/metrics?format=prometheus", {{"Authorization", bearer}});
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(a.headers["content-type"].rfind("text/plain", 0), 0u);
  EXPECT_NE(a.body.find("\ncti_requests_total{node=\"e2e-node\"} "), std::string::npos) << a.body;
  EXPECT_NE(a.body.find("# TYPE cti_db_pool_idle gauge"), std::string::npos);
  auto b = http_request(port(), "GET", "/metrics",
                        {{"Authorization", bearer}, {"Accept", "text/plain"}});
  EXPECT_NE(b.body.find("cti_uptime_seconds"), std::string::npos);
  // Media types are case-insensitive.
  auto upper = http_request(port(), "GET", "/metrics", {{"Authorization", bearer}, {"Accept", "TEXT/Plain"}});
  EXPECT_EQ(upper.headers["content-type"].rfind("text/plain", 0), 0u) << upper.headers["content-type"];
  // format=json is the default made explicit; any other value is a 400
  // naming the parameter.
  auto c = http_request(port(), "GET", "/metrics?format=json", {{"Authorization", bearer}});
  ASSERT_EQ(c.status, 200);
  EXPECT_TRUE(nlohmann::json::parse(c.body).contains("uptime_seconds"));
  auto d = http_request(port(), "GET", "/metrics?format=xml", {{"Authorization", bearer}});
  EXPECT_EQ(d.status, 400);
  EXPECT_NE(d.body.find("format"), std::string::npos) << d.body;
}

TEST_F(server_test, prometheus_text_follows_the_exposition_grammar) {
  // Some traffic first, so that route histograms exist.
  for (int i = 0; i < 3; ++i)
    http_request(port(), "GET", "/");
  http_request(port(), "GET", "/no/such/thing");
  auto a = http_request(port(), "GET", "/metrics?format=prometheus", {{"Authorization", bearer}});
  ASSERT_EQ(a.status, 200);
  static const std::regex help{R"(^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* \S.*$)"};
  static const std::regex type{R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$)"};
  static const std::regex sample{
    R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")"
    R"((,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*\})? (-?[0-9.]+([eE][-+]?[0-9]+)?|NaN|[+-]Inf)$)"};
  std::set<std::string> families;
  std::map<std::string, std::string> family_type;
  std::istringstream in{a.body};
  std::string line;
  int samples = 0;
  double last_bucket = -1;
  std::string last_series;
  while (std::getline(in, line)) {
    std::smatch m;
    if (line.rfind("# HELP ", 0) == 0) {
      EXPECT_TRUE(std::regex_match(line, help)) << line;
    } else if (line.rfind("# TYPE ", 0) == 0) {
      ASSERT_TRUE(std::regex_match(line, m, type)) << line;
      EXPECT_TRUE(families.insert(m[1]).second) << "declared twice: " << line;
      family_type[m[1]] = m[2];
    } else {
      ASSERT_TRUE(std::regex_match(line, m, sample)) << line;
      ++samples;
      std::string name = m[1];
      std::string family = name;
      for (const char* suffix : {"_bucket", "_sum", "_count"})
        if (family_type.count(family) == 0 && name.size() > std::strlen(suffix)
            && name.compare(name.size() - std::strlen(suffix), std::string::npos, suffix) == 0)
          family = name.substr(0, name.size() - std::strlen(suffix));
      EXPECT_EQ(family_type.count(family), 1u) << "no TYPE before " << line;
      if (name.size() > 7 && name.compare(name.size() - 7, 7, "_bucket") == 0) {
        // Cumulative buckets never decrease within a series.
        auto series = line.substr(0, line.find(",le="));
        double v = std::stod(line.substr(line.rfind(' ') + 1));
        if (series == last_series) {
          EXPECT_GE(v, last_bucket) << line;
        }
        last_series = series;
        last_bucket = v;
      }
    }
  }
  EXPECT_GT(samples, 40);
  EXPECT_EQ(family_type["cti_http_request_duration_seconds"], "histogram");
  EXPECT_NE(a.body.find("cti_http_request_duration_seconds_count{node=\"e2e-node\",route=\"root\"}"),
            std::string::npos) << a.body;
  EXPECT_NE(a.body.find("route=\"unmatched\""), std::string::npos);
  EXPECT_NE(a.body.find("cti_dialpad_token_refresh_failures_total"), std::string::npos);
  EXPECT_NE(a.body.find("cti_event_batch_duration_seconds_bucket"), std::string::npos);
}

TEST_F(server_test, prometheus_times_each_acknowledged_webhook_and_each_processed_event) {
  auto count_of = [&](const std::string& family) -> long {
    auto r = http_request(port(), "GET", "/metrics?format=prometheus", {{"Authorization", bearer}});
    auto key = "\n" + family + "_count{node=\"e2e-node\"} ";
    auto at = r.body.find(key);
    return at == std::string::npos ? -1 : std::stol(r.body.substr(at + key.size()));
  };
  auto ingest_before = count_of("cti_webhook_ingest_duration_seconds");
  auto latency_before = count_of("cti_event_processing_latency_seconds");
  ASSERT_GE(ingest_before, 0);
  ASSERT_GE(latency_before, 0);
  auto app = cti::test::create_app_over_http(port(), "histograms");
  json ev = {{"event_type", "call.ring"}, {"dialpad_event_id", "hist-ring-1"},
             {"dialpad_call_id", 9300001}, {"direction", "inbound"},
             {"from", "+15550001111"}, {"to", "+15550002222"}};
  ASSERT_EQ(cti::test::post_signed_event(port(), app, ev.dump()).status, 200);
  EXPECT_EQ(count_of("cti_webhook_ingest_duration_seconds"), ingest_before + 1);
  // Processed a moment later, by a poller.
  EXPECT_TRUE(cti::test::eventually(
    [&] { return count_of("cti_event_processing_latency_seconds") >= latency_before + 1; }, 10s));
  // A refused webhook is not timed as an ingest.
  ASSERT_EQ(http_request(port(), "POST", "/webhooks/dialpad/" + app,
                         {{"Content-Type", "application/json"}, {"X-Dialpad-Signature", "00"}},
                         ev.dump()).status, 401);
  EXPECT_EQ(count_of("cti_webhook_ingest_duration_seconds"), ingest_before + 1);
}

// The internal realm is `/internal` and all under it (API.md
// "Authentication"): without the bearer, a path or method that does not
// exist there is 401 like one that does; with it, 404 and 405 as anywhere.
// (Until the twenty-sixth session anyone could list the internal endpoints
// and their methods by their 404s and 405s.)
TEST_F(server_test, the_internal_realm_is_401_without_the_bearer_even_where_nothing_exists) {
  const std::pair<const char*, const char*> probes[] = {
    {"GET", "/internal/nothing"}, {"GET", "/internal"}, {"DELETE", "/internal/apps"},
    {"PUT", "/internal/apps/x/y/z"}};
  for (const auto& [method, path] : probes) {
    auto r = http_request(port(), method, path);
    EXPECT_EQ(r.status, 401) << method << " " << path << ": " << r.body;
    EXPECT_NE(r.body.find("\"unauthorized\""), std::string::npos) << r.body;
    EXPECT_FALSE(r.headers["www-authenticate"].empty()) << method << " " << path;
  }
  EXPECT_EQ(http_request(port(), "GET", "/internal/nothing", {{"Authorization", bearer}}).status, 404);
  auto wrong_method = http_request(port(), "DELETE", "/internal/apps", {{"Authorization", bearer}});
  EXPECT_EQ(wrong_method.status, 405);
  EXPECT_FALSE(wrong_method.headers["allow"].empty());
  // Elsewhere nothing changes: an unknown path is 404 without credentials.
  EXPECT_EQ(http_request(port(), "GET", "/internalish").status, 404);
}

TEST_F(server_test, unknown_path_is_a_json_404) {
  auto r = http_request(port(), "GET", "/no/such/thing");
  ASSERT_EQ(r.status, 404);
  EXPECT_EQ(parse(r)["error"], "not_found");
  EXPECT_FALSE(r.headers["x-request-id"].empty());
}

TEST_F(server_test, wrong_method_is_405_with_allow) {
  auto r = http_request(port(), "DELETE", "/health");
  ASSERT_EQ(r.status, 405);
  EXPECT_EQ(r.headers["allow"], "GET, HEAD");
  EXPECT_EQ(parse(r)["error"], "method_not_allowed");
}

TEST_F(server_test, head_gets_headers_without_a_body) {
  raw_connection c{port()};
  ASSERT_TRUE(c.write("HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto head = c.read_response(5s, true);
  // The HEAD answer has no body, so the next bytes are the second response's.
  auto get = c.read_response(5s);
  ASSERT_EQ(get.status, 200) << get.error;
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.headers["content-length"], std::to_string(get.body.size()));
}

TEST_F(server_test, keeps_connections_alive_and_answers_in_order) {
  raw_connection c{port()};
  ASSERT_TRUE(c.write("GET /health HTTP/1.1\r\nHost: x\r\nX-Request-Id: one\r\n\r\n"
                      "GET / HTTP/1.1\r\nHost: x\r\nX-Request-Id: two\r\n\r\n"));
  auto first = c.read_response(5s);
  auto second = c.read_response(5s);
  EXPECT_EQ(first.headers["x-request-id"], "one");
  EXPECT_EQ(second.headers["x-request-id"], "two");
  EXPECT_NE(first.body.find("healthy"), std::string::npos);
  EXPECT_NE(second.body.find("running"), std::string::npos);
}

TEST_F(server_test, an_http_1_0_keep_alive_is_confirmed_and_a_plain_one_closes) {
  raw_connection kept{port()};
  ASSERT_TRUE(kept.write("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  auto first = kept.read_response(5s);
  ASSERT_EQ(first.status, 200) << first.error;
  // Without this header an HTTP/1.0 client takes the connection as closing.
  EXPECT_EQ(first.headers["connection"], "keep-alive");
  ASSERT_TRUE(kept.write("GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  EXPECT_EQ(kept.read_response(5s).status, 200);
  raw_connection plain{port()};
  ASSERT_TRUE(plain.write("GET / HTTP/1.0\r\n\r\n"));
  EXPECT_EQ(plain.read_response(5s).status, 200);
  EXPECT_TRUE(plain.closed_by_peer(5s));
}

TEST_F(server_test, an_absolute_form_target_is_routed_by_its_path) {
  raw_connection c{port()};
  ASSERT_TRUE(c.write("GET http://cti.example.com/health HTTP/1.1\r\nHost: cti.example.com\r\n\r\n"
                      "GET HTTP://cti.example.com HTTP/1.1\r\nHost: cti.example.com\r\n\r\n"
                      "GET http://cti.example.com/no/such HTTP/1.1\r\nHost: cti.example.com\r\n\r\n"));
  auto health = c.read_response(5s);
  EXPECT_EQ(health.status, 200) << health.body;
  EXPECT_NE(health.body.find("healthy"), std::string::npos) << health.body;
  auto root = c.read_response(5s);
  EXPECT_EQ(root.status, 200) << root.body;
  EXPECT_NE(root.body.find("running"), std::string::npos) << root.body;
  auto missing = c.read_response(5s);
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.body.find("/no/such"), std::string::npos) << missing.body;
}

TEST_F(server_test, oversized_body_is_413_and_the_server_stays_up) {
  std::string big(2 * 1024 * 1024, 'x'); // over HTTP_MAX_BODY_BYTES (1 MiB)
  auto r = http_request(port(), "POST", "/",
                        {{"Content-Type", "application/json"}, {"X-Request-Id", "big-body-1"}}, big);
  ASSERT_EQ(r.status, 413) << r.error;
  EXPECT_EQ(parse(r)["error"], "payload_too_large");
  // Refused as the header was read (over every limit): still this request's id.
  EXPECT_EQ(r.headers["x-request-id"], "big-body-1");
  EXPECT_EQ(http_request(port(), "GET", "/").status, 200);
}

TEST_F(server_test, chunked_body_over_the_limit_is_413) {
  raw_connection c{port()};
  std::string chunk(600 * 1024, 'y');
  char size[32];
  std::snprintf(size, sizeof size, "%zx", chunk.size());
  std::string req = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  req += std::string{size} + "\r\n" + chunk + "\r\n" + size + "\r\n" + chunk + "\r\n0\r\n\r\n";
  c.write(req);
  auto r = c.read_response(10s);
  ASSERT_EQ(r.status, 413) << r.error;
}

TEST_F(server_test, malformed_http_is_400) {
  raw_connection c{port()};
  ASSERT_TRUE(c.write("THIS IS NOT HTTP\r\n\r\n"));
  auto r = c.read_response(5s);
  ASSERT_EQ(r.status, 400) << r.error;
  EXPECT_EQ(parse(r)["error"], "bad_request");
}

TEST_F(server_test, conflicting_message_framing_is_400_and_the_connection_closed) {
  // Request smuggling: two framings of one body must never be guessed between.
  const std::vector<std::string> attempts = {
    "POST /webhooks/dialpad HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "POST /webhooks/dialpad HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
    "Content-Length: 5\r\n\r\nabcde",
    "POST /webhooks/dialpad HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n"
    "Transfer-Encoding: identity\r\n\r\n0\r\n\r\n",
  };
  for (const auto& raw : attempts) {
    raw_connection c{port()};
    ASSERT_TRUE(c.write(raw + "GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto r = c.read_response(5s);
    EXPECT_EQ(r.status, 400) << raw << r.error;
    // Nothing after the refused request is read as a request of its own.
    EXPECT_TRUE(c.closed_by_peer(5s)) << raw;
  }
  EXPECT_EQ(http_request(port(), "GET", "/").status, 200);
}

TEST_F(server_test, oversized_headers_are_refused) {
  raw_connection c{port()};
  ASSERT_TRUE(c.write("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(32 * 1024, 'h')
                      + "\r\n\r\n"));
  auto r = c.read_response(5s);
  ASSERT_EQ(r.status, 431) << r.error;
}

TEST(server_process_test, slow_client_is_cut_off_by_the_header_timeout) {
  server_process s{{{"HTTP_HEADER_TIMEOUT_SECONDS", "1"}}};
  ASSERT_TRUE(s.start()) << s.output();
  raw_connection c{s.port()};
  ASSERT_TRUE(c.write("GET / HTTP/1.1\r\nHost: x\r\n")); // never finishes the header
  EXPECT_TRUE(c.closed_by_peer(10s));
  EXPECT_EQ(http_request(s.port(), "GET", "/").status, 200); // others still served
  EXPECT_EQ(s.stop(SIGTERM), 0);
}

TEST(server_process_test, a_header_trickled_byte_by_byte_is_cut_off_too) {
  // Slowloris: the client keeps the connection busy with a byte every
  // 100 ms, which no idle timeout would ever cut. The header deadline is
  // absolute (1 s here), so the connection is closed while it trickles.
  server_process s{{{"HTTP_HEADER_TIMEOUT_SECONDS", "1"}}};
  ASSERT_TRUE(s.start()) << s.output();
  raw_connection c{s.port()};
  ASSERT_TRUE(c.write("GET / HTTP/1.1\r\nHost: x\r\n"));
  const std::string trickle = "X-Slow: abcdefghijklmnopqrstuvwxyz\r\n";
  bool cut = false;
  for (int i = 0; i < 100 && !cut; ++i) { // 10 s of trickling at most
    cut = !c.write(std::string(1, trickle[static_cast<std::size_t>(i) % trickle.size()]))
          || c.closed_by_peer(100ms); // also the pace: one byte per 100 ms
  }
  EXPECT_TRUE(cut) << "a trickled header kept its connection for 10 s";
  EXPECT_EQ(http_request(s.port(), "GET", "/").status, 200); // others still served
  EXPECT_EQ(s.stop(SIGTERM), 0);
}

TEST(server_process_test, sigterm_finishes_the_in_flight_request_then_exits_zero) {
  server_process s;
  ASSERT_TRUE(s.start()) << s.output();
  raw_connection busy{s.port()};
  raw_connection idle{s.port()};
  // Both connections are established and served once (so accepted).
  ASSERT_TRUE(busy.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_EQ(busy.read_response(5s).status, 200);
  ASSERT_TRUE(idle.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_EQ(idle.read_response(5s).status, 200);
  // A request is half-way in when the signal arrives.
  ASSERT_TRUE(busy.write("GET /health HTTP/1.1\r\nHost: x\r\n"));
  s.signal(SIGTERM);
  // The idle keep-alive connection is closed at once.
  EXPECT_TRUE(idle.closed_by_peer(5s));
  ASSERT_TRUE(busy.write("X-Request-Id: last-one\r\n\r\n"));
  auto r = busy.read_response(10s);
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.headers["x-request-id"], "last-one");
  EXPECT_EQ(r.headers["connection"], "close");
  EXPECT_TRUE(busy.closed_by_peer(5s));
  EXPECT_EQ(s.wait_exit(15s), 0) << s.output();
  // New connections are refused once the server is stopping.
  EXPECT_NE(http_request(s.port(), "GET", "/").status, 200);
}

TEST(server_process_test, shutdown_ends_within_the_grace_period_even_when_a_database_job_is_stuck) {
  server_process s{{{"SHUTDOWN_GRACE_SECONDS", "2"}, {"RETENTION_INTERVAL_SECONDS", "0"}}};
  ASSERT_TRUE(s.start()) << s.output();
  // An app with a call past its retention window, whose row another
  // session holds locked: the retention job's DELETE waits for it.
  auto app = cti::test::create_app_over_http(s.port(), "stuck-shutdown");
  const auto url = cti::test::database_url();
  cti::test::query_value(url, "INSERT INTO calls (app_id, dialpad_call_id, status, started_at)"
                              " VALUES ($1::uuid, 9400001, 'ended', now() - interval '400 days')"
                              " RETURNING 1", {app});
  pqxx::connection holder{url};
  pqxx::work hold{holder};
  hold.exec_params("SELECT 1 FROM calls WHERE app_id = $1::uuid FOR UPDATE", app);
  std::thread runner{[&] {
    http_request(s.port(), "POST", "/internal/retention/run", {{"Authorization", bearer}});
  }};
  // Wait (with a deadline) until the job really waits on that lock.
  bool waiting = false;
  for (auto until = std::chrono::steady_clock::now() + 10s;
       !waiting && std::chrono::steady_clock::now() < until; std::this_thread::sleep_for(20ms))
    waiting = cti::test::query_value(url, "SELECT count(*) FROM pg_stat_activity"
                                          " WHERE wait_event_type = 'Lock'"
                                          " AND query LIKE 'DELETE FROM calls%'") != "0";
  ASSERT_TRUE(waiting) << "the retention job never waited on the held row";
  // The job would wait for the lock (or its 30 s statement timeout); the
  // shutdown does not: 2 s of grace, then exit 0.
  auto signalled = std::chrono::steady_clock::now();
  s.signal(SIGTERM);
  EXPECT_EQ(s.wait_exit(10s), 0) << s.output();
  auto took = std::chrono::steady_clock::now() - signalled;
  EXPECT_LT(took, 8s) << "no bound on the shutdown";
  EXPECT_NE(s.output().find("the grace period is over"), std::string::npos) << s.output();
  runner.join();
  hold.abort();
  // The abandoned job's transaction rolled back: the row is still there.
  EXPECT_EQ(cti::test::query_value(url, "SELECT count(*) FROM calls WHERE app_id = $1::uuid",
                                   {app}), "1");
}

TEST(server_process_test, webhooks_past_the_per_app_bound_get_503_with_retry_after_never_429) {
  server_process s{{{"WEBHOOK_RATE_LIMIT_PER_MINUTE", "3"}}};
  ASSERT_TRUE(s.start()) << s.output();
  auto app = cti::test::create_app_over_http(s.port(), "bounded");
  auto other = cti::test::create_app_over_http(s.port(), "unbounded");
  auto event = [](int i) {
    return json{{"event_type", "call.ring"}, {"dialpad_event_id", "bound-" + std::to_string(i)},
                {"dialpad_call_id", 9500000 + i}, {"direction", "inbound"}}.dump();
  };
  // Wrong signatures spend nothing of the app's bound.
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(http_request(s.port(), "POST", "/webhooks/dialpad/" + app,
                           {{"Content-Type", "application/json"}, {"X-Dialpad-Signature", "00"}},
                           event(i)).status, 401);
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(cti::test::post_signed_event(s.port(), app, event(i)).status, 200) << i;
  auto past = cti::test::post_signed_event(s.port(), app, event(3));
  EXPECT_EQ(past.status, 503) << past.body;
  EXPECT_EQ(json::parse(past.body, nullptr, false).value("error", ""), "unavailable") << past.body;
  auto wait = past.headers["retry-after"];
  ASSERT_FALSE(wait.empty());
  EXPECT_GE(std::stoi(wait), 1);
  EXPECT_LE(std::stoi(wait), 60);
  // Not stored: nothing was acknowledged past the bound.
  EXPECT_EQ(cti::test::query_value(cti::test::database_url(),
                                   "SELECT count(*) FROM webhook_events WHERE app_id = $1::uuid",
                                   {app}), "3");
  // Another app has its own bound.
  EXPECT_EQ(cti::test::post_signed_event(s.port(), other, event(4)).status, 200);
  EXPECT_EQ(s.stop(SIGTERM), 0) << s.output();
}

/// A seed-format inbound call.ring with this event id and call id.
static std::string ring_event(const std::string& id, int64_t call) {
  return json{{"event_type", "call.ring"}, {"dialpad_event_id", id},
              {"dialpad_call_id", call}, {"direction", "inbound"}}.dump();
}

// A core actor that ends while the node runs (test hook: the ingester
// throws on one webhook, as a bug would) stops the node, as SIGTERM does,
// with exit code 70 for its service manager to restart it, and the log
// says which actor and why. The webhook it failed on is not acknowledged,
// and nothing else was lost. (Until the twenty-sixth session the node went
// on without its ingester: every webhook after it was refused, until
// someone restarted the process.)
TEST(server_process_test, a_core_actor_that_ends_stops_the_node_with_exit_code_70) {
  server_process s{{{"CTI_TEST_INGESTER_FAIL_EVENT", "core-fail-2"}}};
  ASSERT_TRUE(s.start()) << s.output();
  auto app = cti::test::create_app_over_http(s.port(), "core failure");
  ASSERT_EQ(cti::test::post_signed_event(s.port(), app, ring_event("core-fail-1", 9600001)).status, 200);
  auto failed = cti::test::post_signed_event(s.port(), app, ring_event("core-fail-2", 9600002));
  EXPECT_NE(failed.status, 200) << failed.body;
  EXPECT_EQ(s.wait_exit(20s), 70) << s.output();
  const auto out = s.output();
  EXPECT_NE(out.find("a core actor of this node has ended"), std::string::npos) << out;
  EXPECT_NE(out.find("\"actor\":\"ingester\""), std::string::npos) << out;
  EXPECT_NE(out.find("test hook: the ingester fails on this event"), std::string::npos) << out;
  EXPECT_EQ(cti::test::query_value(cti::test::database_url(),
                                   "SELECT string_agg(dialpad_event_id, ',')"
                                   " FROM webhook_events WHERE app_id = $1::uuid",
                                   {app}), "core-fail-1");
}

// An HTTP request whose handler fails (test hook: an exception for one
// request id, as a bug in an endpoint would throw) gets 500 `internal` at
// once and its connection is closed; other connections, and new ones, are
// served. (Until the twenty-sixth session the request waited for its 30 s
// timeout, and every later request on that keep-alive connection too.)
TEST(server_process_test, a_request_whose_handler_fails_gets_500_at_once_and_the_rest_carry_on) {
  server_process s{{{"CTI_TEST_HANDLER_FAIL_REQUEST_ID", "handler-boom"}}};
  ASSERT_TRUE(s.start()) << s.output();
  raw_connection other{s.port()};
  ASSERT_EQ(get_on(other, "/"), 200);
  raw_connection conn{s.port()};
  ASSERT_TRUE(conn.write("GET /health HTTP/1.1\r\nHost: x\r\nX-Request-Id: handler-boom\r\n\r\n"));
  auto r = conn.read_response(5s);
  EXPECT_EQ(r.status, 500) << r.error;
  auto body = json::parse(r.body, nullptr, false);
  EXPECT_TRUE(body.is_object() && body.value("error", "") == "internal") << r.body;
  EXPECT_EQ(r.headers["x-request-id"], "handler-boom");
  EXPECT_EQ(r.headers["connection"], "close");
  EXPECT_TRUE(conn.closed_by_peer(5s));
  // The other keep-alive connection is served as before, and new ones.
  EXPECT_EQ(get_on(other, "/health"), 200);
  EXPECT_EQ(http_request(s.port(), "GET", "/").status, 200);
  auto metrics = json::parse(cti::test::internal_call(s.port(), "GET", "/metrics").body, nullptr,
                             false);
  EXPECT_EQ(metrics["internal_failures"]["http_handler"], 1) << metrics;
  EXPECT_EQ(s.stop(SIGTERM), 0) << s.output();
  EXPECT_NE(s.output().find("an HTTP request failed on an internal error"), std::string::npos)
    << s.output();
  EXPECT_NE(s.output().find("test hook: the handler fails on this request"), std::string::npos)
    << s.output();
}

// The same for a webhook checked on its session's own thread (the fast
// path, for an app this node has cached; test hook: an exception there as
// a bug would throw): 500 `internal` at once, the connection closed, the
// failure counted and logged, nothing stored; the next webhook is served.
TEST(server_process_test, a_webhook_whose_fast_path_fails_gets_500_at_once_and_nothing_is_stored) {
  server_process s{{{"CTI_TEST_HANDLER_FAIL_REQUEST_ID", "webhook-boom"}}};
  ASSERT_TRUE(s.start()) << s.output();
  auto app = cti::test::create_app_over_http(s.port(), "fast path failure");
  // The first one has the node cache the app.
  ASSERT_EQ(cti::test::post_signed_event(s.port(), app, ring_event("fast-1", 9700001)).status, 200);
  const auto body = ring_event("fast-2", 9700002);
  raw_connection conn{s.port()};
  ASSERT_TRUE(conn.write("POST /webhooks/dialpad/" + app + " HTTP/1.1\r\nHost: x\r\n"
                         "X-Request-Id: webhook-boom\r\nContent-Type: application/json\r\n"
                         "X-Dialpad-Signature: "
                         + cti::test::seed_signature(cti::test::e2e_webhook_secret, body)
                         + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n"
                         + body));
  auto r = conn.read_response(5s);
  EXPECT_EQ(r.status, 500) << r.error;
  auto answer = json::parse(r.body, nullptr, false);
  EXPECT_TRUE(answer.is_object() && answer.value("error", "") == "internal") << r.body;
  EXPECT_EQ(r.headers["connection"], "close");
  EXPECT_TRUE(conn.closed_by_peer(5s));
  EXPECT_EQ(cti::test::post_signed_event(s.port(), app, ring_event("fast-3", 9700003)).status, 200);
  auto metrics = json::parse(cti::test::internal_call(s.port(), "GET", "/metrics").body, nullptr,
                             false);
  EXPECT_EQ(metrics["internal_failures"]["http_handler"], 1) << metrics;
  EXPECT_EQ(cti::test::query_value(cti::test::database_url(),
                                   "SELECT string_agg(dialpad_event_id, ',' ORDER BY dialpad_event_id)"
                                   " FROM webhook_events WHERE app_id = $1::uuid",
                                   {app}),
            "fast-1,fast-3");
  EXPECT_EQ(s.stop(SIGTERM), 0) << s.output();
  // It failed where the fast path runs, not in the handler actor.
  EXPECT_NE(s.output().find("a webhook checked on its session's thread"), std::string::npos)
    << s.output();
}

// An exception thrown on an asio thread (test hook: a request for one path
// throws in the connection's code, as a bug would) costs that connection,
// not the process: it is closed, the error is logged, and every other
// connection, kept alive or new, is served. (Until the twenty-sixth
// session it escaped io_context::run and std::terminate ended the node.)
TEST(server_process_test, an_exception_in_a_connections_code_drops_that_connection_only) {
  server_process s{{{"CTI_TEST_SESSION_FAIL_PATH", "/session-boom"}, {"HTTP_THREADS", "1"}}};
  ASSERT_TRUE(s.start()) << s.output();
  raw_connection other{s.port()};
  ASSERT_EQ(get_on(other, "/"), 200);
  for (int i = 0; i < 2; ++i) { // twice: the thread survives more than once
    raw_connection conn{s.port()};
    ASSERT_TRUE(conn.write("GET /session-boom HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_TRUE(conn.closed_by_peer(10s)) << i;
  }
  EXPECT_EQ(get_on(other, "/health"), 200);
  EXPECT_EQ(http_request(s.port(), "GET", "/").status, 200);
  // Counted for alerts: /metrics and its Prometheus form.
  auto metrics = json::parse(cti::test::internal_call(s.port(), "GET", "/metrics").body, nullptr,
                             false);
  EXPECT_EQ(metrics["internal_failures"]["connection"], 2) << metrics;
  EXPECT_EQ(metrics["internal_failures"]["http_handler"], 0) << metrics;
  auto prometheus = http_request(s.port(), "GET", "/metrics?format=prometheus",
                                 {{"Authorization", bearer}});
  EXPECT_NE(prometheus.body.find("component=\"connection\"} 2\n"), std::string::npos)
    << prometheus.body;
  EXPECT_EQ(s.stop(SIGTERM), 0) << s.output();
  const auto out = s.output();
  EXPECT_NE(out.find("an exception escaped a connection's handler"), std::string::npos) << out;
  EXPECT_NE(out.find("test hook: the connection's handler fails on this path"), std::string::npos)
    << out;
}

TEST(server_process_test, health_follows_the_database_down_and_back_up) {
  server_process s;
  ASSERT_TRUE(s.start()) << s.output();
  ASSERT_EQ(http_request(s.port(), "GET", "/health").status, 200);
  auto app = cti::test::create_app_over_http(s.port());
  std::map<std::string, std::string> key{{"x-app-api-key", cti::test::create_key_over_http(s.port(), app)}};
  // The key is checked (and cached) while the database is there.
  ASSERT_EQ(http_request(s.port(), "GET", "/api/calls", key).status, 200);
  ASSERT_EQ(cti::test::run_env_command("CTI_TEST_PG_STOP"), 0);
  bool down = false;
  http_reply unhealthy;
  for (auto until = std::chrono::steady_clock::now() + 5s;
       !down && std::chrono::steady_clock::now() < until; std::this_thread::sleep_for(50ms)) {
    unhealthy = http_request(s.port(), "GET", "/health");
    down = unhealthy.status == 503;
  }
  // An export reads its first page before its 200: 503, not a cut stream.
  auto exported = http_request(s.port(), "GET", "/api/calls/export", key);
  ASSERT_EQ(cti::test::run_env_command("CTI_TEST_PG_START"), 0);
  EXPECT_TRUE(down) << "health never reported the database unreachable";
  // API.md's body, in its order, with the Retry-After of every 503.
  auto body = nlohmann::ordered_json::parse(unhealthy.body, nullptr, false);
  ASSERT_TRUE(body.is_object()) << unhealthy.body;
  std::vector<std::string> keys;
  for (const auto& [k, v] : body.items())
    keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"status", "timestamp", "checks"})) << unhealthy.body;
  EXPECT_EQ(body["status"], "unhealthy");
  EXPECT_EQ(body["checks"], nlohmann::ordered_json::parse(R"({"database":"unreachable"})"));
  EXPECT_EQ(body["timestamp"].get<std::string>().size(), 24u) << unhealthy.body;
  EXPECT_EQ(unhealthy.headers["retry-after"], "5");
  EXPECT_EQ(unhealthy.headers["content-type"], "application/json; charset=utf-8");
  EXPECT_EQ(exported.status, 503) << exported.body;
  EXPECT_EQ(json::parse(exported.body, nullptr, false).value("error", ""), "unavailable")
    << exported.body;
  EXPECT_FALSE(exported.headers["retry-after"].empty());
  bool up = false;
  for (auto until = std::chrono::steady_clock::now() + 10s;
       !up && std::chrono::steady_clock::now() < until; std::this_thread::sleep_for(50ms))
    up = http_request(s.port(), "GET", "/health").status == 200;
  EXPECT_TRUE(up) << "health did not recover after Postgres came back";
  EXPECT_EQ(s.stop(SIGTERM), 0) << s.output();
}

TEST(server_binary, prints_help_and_version) {
  auto [code, out] = cti::test::run_binary({"--help"}, {});
  EXPECT_EQ(code, 0);
  EXPECT_NE(out.find("Usage: cti-server"), std::string::npos);
  auto [vcode, vout] = cti::test::run_binary({"--version"}, {});
  EXPECT_EQ(vcode, 0);
  EXPECT_EQ(vout.rfind("cti-server ", 0), 0u) << vout;
}

TEST(server_binary, refuses_bad_configuration_naming_each_variable) {
  auto [code, out] = cti::test::run_binary(
    {}, {{"PORT", "forty"}, {"LOG_FORMAT", "xml"}, {"INTERNAL_API_SECRET", "x"},
         {"DIALPAD_WEBHOOK_SECRET", "y"}, {"DATABASE_ENCRYPTION_KEY", std::string(64, 'b')}});
  EXPECT_EQ(code, 2);
  EXPECT_NE(out.find("PORT"), std::string::npos) << out;
  EXPECT_NE(out.find("LOG_FORMAT"), std::string::npos) << out;
}

TEST(server_binary, an_unreadable_tls_file_is_an_invalid_configuration) {
  auto [code, out] = cti::test::run_binary(
    {}, {{"CTI_ENV", "development"},
         {"TLS_CERT_FILE", "/nonexistent/cti-cert.pem"}, {"TLS_KEY_FILE", "/nonexistent/cti-key.pem"},
         {"CORS_ALLOWED_ORIGINS", "https://crm.example.com"}});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("TLS_CERT_FILE: cannot load TLS_CERT_FILE"), std::string::npos) << out;
  // So are the cluster link's files, when clustering is on.
  auto [cluster_code, cluster_out] = cti::test::run_binary(
    {}, {{"CTI_ENV", "development"}, {"CLUSTER_PORT", "45999"},
         {"CLUSTER_TLS_CERT_FILE", "/nonexistent/cti-cluster-cert.pem"},
         {"CLUSTER_TLS_KEY_FILE", "/nonexistent/cti-cluster-key.pem"},
         {"CLUSTER_TLS_CA_FILE", "/nonexistent/cti-cluster-ca.pem"}});
  EXPECT_EQ(cluster_code, 2) << cluster_out;
  EXPECT_NE(cluster_out.find("CLUSTER_TLS_CERT_FILE: cannot read"), std::string::npos) << cluster_out;
  EXPECT_NE(cluster_out.find("CLUSTER_TLS_CA_FILE: cannot read"), std::string::npos) << cluster_out;
  // A CORS entry no browser origin could equal is refused the same way.
  auto [cors_code, cors_out] = cti::test::run_binary(
    {}, {{"CTI_ENV", "development"}, {"CORS_ALLOWED_ORIGINS", "https://crm.example.com, notanorigin"}});
  EXPECT_EQ(cors_code, 2) << cors_out;
  EXPECT_NE(cors_out.find("CORS_ALLOWED_ORIGINS"), std::string::npos) << cors_out;
  EXPECT_NE(cors_out.find("'notanorigin'"), std::string::npos) << cors_out;
}

TEST(server_binary, production_requires_its_secrets_and_never_prints_them) {
  auto [code, out] = cti::test::run_binary(
    {}, {{"CTI_ENV", "production"}, {"DIALPAD_WEBHOOK_SECRET", "very-secret-webhook-value"},
         {"DATABASE_ENCRYPTION_KEY", "not-a-valid-key-but-secret"}});
  EXPECT_EQ(code, 2);
  EXPECT_NE(out.find("INTERNAL_API_SECRET"), std::string::npos) << out;
  EXPECT_NE(out.find("DATABASE_ENCRYPTION_KEY"), std::string::npos) << out;
  EXPECT_EQ(out.find("very-secret-webhook-value"), std::string::npos) << out;
  EXPECT_EQ(out.find("not-a-valid-key-but-secret"), std::string::npos) << out;
}

TEST(server_binary, reads_defaults_from_a_config_file_that_the_environment_overrides) {
  auto path = "/tmp/cti-e2e-config-" + std::to_string(::getpid()) + ".env";
  {
    std::ofstream f{path};
    f << "# test\nPORT=notaport\nLOG_LEVEL=verbose\n";
  }
  auto [code, out] = cti::test::run_binary({"--config", path}, {{"PORT", "4000"}});
  std::remove(path.c_str());
  EXPECT_EQ(code, 2);
  EXPECT_NE(out.find("LOG_LEVEL"), std::string::npos) << out; // from the file
  EXPECT_EQ(out.find("PORT:"), std::string::npos) << out;     // environment won
  // A line that is not an assignment stops start-up, naming the line (a
  // typo must not drop a setting quietly; until the twenty-sixth session
  // it was a warning and the server ran).
  {
    std::ofstream f{path};
    f << "# test\nLOG_LEVEL=info\nINTERNAL_API_SECRET secret-typo\n";
  }
  auto [bad_code, bad_out] = cti::test::run_binary({"--config", path}, {{"CTI_ENV", "development"}});
  std::remove(path.c_str());
  EXPECT_EQ(bad_code, 2) << bad_out;
  EXPECT_NE(bad_out.find(path + ":3: not KEY=VALUE"), std::string::npos) << bad_out;
  EXPECT_EQ(bad_out.find("secret-typo"), std::string::npos) << bad_out; // never echoed
}

TEST(server_binary, cors_preflight_and_headers_follow_the_allowed_origins) {
  cti::test::server_process s{{{"CORS_ALLOWED_ORIGINS", "https://app.example.com"}}};
  ASSERT_TRUE(s.start()) << s.output();
  auto pre = cti::test::http_request(s.port(), "OPTIONS", "/api/calls",
                                     {{"Origin", "https://app.example.com"},
                                      {"Access-Control-Request-Method", "GET"},
                                      {"Access-Control-Request-Headers", "x-app-api-key"}});
  EXPECT_EQ(pre.status, 204) << pre.body;
  EXPECT_EQ(pre.headers["access-control-allow-origin"], "https://app.example.com");
  EXPECT_NE(pre.headers["access-control-allow-methods"].find("GET"), std::string::npos);
  EXPECT_EQ(pre.headers["access-control-allow-headers"], "x-app-api-key");
  EXPECT_EQ(pre.headers["access-control-max-age"], "600");
  EXPECT_EQ(pre.headers.count("access-control-allow-credentials"), 0u);

  auto refused = cti::test::http_request(s.port(), "OPTIONS", "/api/calls",
                                         {{"Origin", "https://evil.example.com"},
                                          {"Access-Control-Request-Method", "GET"}});
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(refused.headers.count("access-control-allow-origin"), 0u);

  auto plain = cti::test::http_request(s.port(), "GET", "/", {{"Origin", "https://app.example.com"}});
  EXPECT_EQ(plain.status, 200);
  EXPECT_EQ(plain.headers["access-control-allow-origin"], "https://app.example.com");
  EXPECT_EQ(plain.headers["vary"], "Origin");
  auto foreign = cti::test::http_request(s.port(), "GET", "/", {{"Origin", "https://evil.example.com"}});
  EXPECT_EQ(foreign.status, 200);
  EXPECT_EQ(foreign.headers.count("access-control-allow-origin"), 0u);
  // The answer depends on the origin: every answer says so, for caches.
  EXPECT_EQ(foreign.headers["vary"], "Origin");
  EXPECT_EQ(refused.headers["vary"], "Origin");
  auto no_origin = cti::test::http_request(s.port(), "GET", "/");
  EXPECT_EQ(no_origin.headers.count("access-control-allow-origin"), 0u);
  EXPECT_EQ(no_origin.headers["vary"], "Origin");
  EXPECT_EQ(s.stop(SIGTERM), 0);

  // A named origin next to `*`: still answered by origin, so Vary too;
  // `*` alone answers every origin alike, without Vary.
  cti::test::server_process mixed{{{"CORS_ALLOWED_ORIGINS", "https://app.example.com,*"}}};
  ASSERT_TRUE(mixed.start()) << mixed.output();
  auto named = cti::test::http_request(mixed.port(), "GET", "/", {{"Origin", "https://app.example.com"}});
  EXPECT_EQ(named.headers["access-control-allow-origin"], "https://app.example.com");
  EXPECT_EQ(named.headers["vary"], "Origin");
  auto any = cti::test::http_request(mixed.port(), "GET", "/", {{"Origin", "https://other.example.com"}});
  EXPECT_EQ(any.headers["access-control-allow-origin"], "*");
  EXPECT_EQ(any.headers["vary"], "Origin");
  EXPECT_EQ(mixed.stop(SIGTERM), 0);
  cti::test::server_process star{{{"CORS_ALLOWED_ORIGINS", "*"}}};
  ASSERT_TRUE(star.start()) << star.output();
  auto starred = cti::test::http_request(star.port(), "GET", "/", {{"Origin", "https://other.example.com"}});
  EXPECT_EQ(starred.headers["access-control-allow-origin"], "*");
  EXPECT_EQ(starred.headers.count("vary"), 0u);
  EXPECT_EQ(star.stop(SIGTERM), 0);
}

TEST(server_binary, wrong_credentials_from_one_address_are_braked_with_429) {
  cti::test::server_process s{{{"AUTH_FAILURES_PER_MINUTE", "5"}}};
  ASSERT_TRUE(s.start()) << s.output();
  // Missing credentials are not attempts.
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(cti::test::http_request(s.port(), "GET", "/api/calls").status, 401);
  const std::string wrong = "raw_" + std::string(64, 'e');
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(cti::test::http_request(s.port(), "GET", "/api/calls", {{"x-app-api-key", wrong}}).status,
              401);
  // (A wrong bearer counts on a path of the internal realm that does not
  // exist too: else it would guess the secret unbraked, 404 meaning right.)
  for (const char* path : {"/internal/apps", "/internal/nothing"})
    EXPECT_EQ(cti::test::http_request(s.port(), "GET", path,
                                      {{"Authorization", "Bearer wrong"}}).status,
              401) << path;
  auto braked = cti::test::http_request(s.port(), "GET", "/api/calls", {{"x-app-api-key", wrong}});
  EXPECT_EQ(braked.status, 429) << braked.body;
  EXPECT_FALSE(braked.headers["retry-after"].empty());
  EXPECT_NE(braked.body.find("rate_limited"), std::string::npos);
  EXPECT_EQ(cti::test::http_request(s.port(), "GET", "/internal/apps",
                                    {{"Authorization", "Bearer wrong"}}).status,
            429);
  EXPECT_EQ(cti::test::http_request(s.port(), "DELETE", "/internal/nothing",
                                    {{"Authorization", "Bearer wrong"}}).status,
            429);
  // A right credential is never braked: the right bearer, and an app key
  // (new, so verified with bcrypt, not from memory), pass as usual.
  EXPECT_EQ(cti::test::internal_call(s.port(), "GET", "/internal/apps").status, 200);
  auto app = cti::test::create_app_over_http(s.port());
  auto key = cti::test::create_key_over_http(s.port(), app);
  EXPECT_EQ(cti::test::http_request(s.port(), "GET", "/api/calls", {{"x-app-api-key", key}}).status,
            200);
  // A missing credential stays a 401.
  EXPECT_EQ(cti::test::http_request(s.port(), "GET", "/api/calls").status, 401);
  // Public endpoints are not behind it.
  EXPECT_EQ(cti::test::http_request(s.port(), "GET", "/").status, 200);
  EXPECT_EQ(s.stop(SIGTERM), 0);
}

TEST(server_binary, an_apps_request_budget_is_enforced_but_never_on_webhooks) {
  cti::test::server_process s{{{"API_RATE_LIMIT_PER_MINUTE", "3"}, {"API_KEY_BCRYPT_COST", "4"}}};
  ASSERT_TRUE(s.start()) << s.output();
  auto app = cti::test::create_app_over_http(s.port());
  auto key = cti::test::create_key_over_http(s.port(), app);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(cti::test::http_request(s.port(), "GET", "/api/calls", {{"x-app-api-key", key}}).status,
              200);
  auto limited = cti::test::http_request(s.port(), "GET", "/api/calls", {{"x-app-api-key", key}});
  EXPECT_EQ(limited.status, 429) << limited.body;
  EXPECT_FALSE(limited.headers["retry-after"].empty());
  // Another app has its own budget; webhooks are never limited.
  auto other = cti::test::create_app_over_http(s.port(), "other");
  auto other_key = cti::test::create_key_over_http(s.port(), other);
  EXPECT_EQ(cti::test::http_request(s.port(), "GET", "/api/calls", {{"x-app-api-key", other_key}})
              .status,
            200);
  for (int i = 0; i < 6; ++i) {
    nlohmann::json ev = {{"event_type", "call.ring"},
                         {"dialpad_event_id", "budget-" + std::to_string(i)},
                         {"dialpad_call_id", 990000 + i},
                         {"direction", "inbound"},
                         {"from", "+15550001111"},
                         {"to", "+15550002222"}};
    EXPECT_EQ(cti::test::post_signed_event(s.port(), app, ev.dump()).status, 200);
  }
  EXPECT_EQ(s.stop(SIGTERM), 0);
}

using cti::test::shell;

TEST(server_binary, operator_subcommands_work_against_the_database) {
  std::map<std::string, std::string> env{{"DATABASE_URL", cti::test::database_url()}};
  // The first run may have work to do (this test alone on a fresh cluster);
  // the second has none.
  auto [first_code, first_out] = cti::test::run_binary({"migrate"}, env);
  EXPECT_EQ(first_code, 0) << first_out;
  auto [mcode, mout] = cti::test::run_binary({"migrate"}, env);
  EXPECT_EQ(mcode, 0) << mout;
  EXPECT_NE(mout.find("up to date"), std::string::npos) << mout;

  // A queued event, processed by the CLI with no server running for it.
  auto app = cti::test::create_app(cti::test::database_url(), "cli");
  auto event_id = cti::test::query_value(
    cti::test::database_url(),
    "INSERT INTO webhook_events (app_id, dialpad_event_id, event_type, payload, format)"
    " VALUES ($1::uuid, 'cli-1', 'call.ring', $2::jsonb, 'seed') RETURNING id",
    {app, R"({"event_type":"call.ring","dialpad_event_id":"cli-1","dialpad_call_id":4400001,
             "direction":"inbound","from":"+15550101010","to":"+15550202020"})"});
  ASSERT_FALSE(event_id.empty());
  auto [scode, sout] = cti::test::run_binary({"events", "stats"}, env);
  EXPECT_EQ(scode, 0) << sout;
  EXPECT_NE(sout.find(app), std::string::npos) << sout;

  auto [pcode, pout] = cti::test::run_binary({"events", "process", "--once"}, env);
  EXPECT_EQ(pcode, 0) << pout;
  EXPECT_EQ(cti::test::query_value(cti::test::database_url(),
                                   "SELECT state FROM webhook_events WHERE id = $1::uuid",
                                   {event_id}),
            "processed");
  EXPECT_EQ(cti::test::query_value(cti::test::database_url(),
                                   "SELECT status FROM calls WHERE app_id = $1::uuid",
                                   {app}),
            "ringing");

  auto [rcode, rout] = cti::test::run_binary({"events", "replay", event_id}, env);
  EXPECT_EQ(rcode, 0) << rout;
  EXPECT_EQ(cti::test::query_value(cti::test::database_url(),
                                   "SELECT state FROM webhook_events WHERE id = $1::uuid",
                                   {event_id}),
            "pending");
  EXPECT_EQ(cti::test::run_binary({"events", "replay", "00000000-0000-4000-8000-000000000000"}, env)
              .first,
            1);
  EXPECT_EQ(cti::test::run_binary({"events", "replay", "nope"}, env).first, 2);
  EXPECT_EQ(cti::test::run_binary({"events", "frobnicate"}, env).first, 2);
  // Leave nothing pending behind for the servers of later tests.
  cti::test::run_binary({"events", "process", "--once"}, env);
}

TEST(server_binary, migrate_builds_an_empty_database_as_the_owner_and_the_server_role_cannot) {
  auto owner_url = cti::test::fresh_database("cli_migrate");
  auto server_url = cti::test::as_server_role(owner_url);
  // The server's role alone (it owns nothing) cannot build the schema.
  auto [refused_code, refused_out] = cti::test::run_binary({"migrate"}, {{"DATABASE_URL", server_url}});
  EXPECT_EQ(refused_code, 1) << refused_out;
  EXPECT_NE(refused_out.find("MIGRATION_DATABASE_URL"), std::string::npos) << refused_out;
  EXPECT_EQ(cti::test::query_value(owner_url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                                              " AND tablename = 'webhook_events'"), "0");
  // A malformed MIGRATION_DATABASE_URL is a usage error, not a silent
  // fall-back to DATABASE_URL (it was dropped with the server's settings).
  auto [bad_code, bad_out] = cti::test::run_binary(
    {"migrate"}, {{"DATABASE_URL", server_url}, {"MIGRATION_DATABASE_URL", "nonsense"}});
  EXPECT_EQ(bad_code, 2) << bad_out;
  EXPECT_NE(bad_out.find("MIGRATION_DATABASE_URL"), std::string::npos) << bad_out;
  // ... for migrate only: the other subcommands never use it.
  auto [stats_code, stats_out] = cti::test::run_binary(
    {"events", "stats"}, {{"DATABASE_URL", cti::test::database_url()},
                          {"MIGRATION_DATABASE_URL", "nonsense"}});
  EXPECT_EQ(stats_code, 0) << stats_out;
  // With the owner's URL it applies every migration, in order.
  std::map<std::string, std::string> env{{"DATABASE_URL", server_url},
                                         {"MIGRATION_DATABASE_URL", owner_url}};
  auto [code, out] = cti::test::run_binary({"migrate"}, env);
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("applied 001_init.sql"), std::string::npos) << out;
  EXPECT_LT(out.find("applied 001_init.sql"), out.find("applied 007_event_serial.sql")) << out;
  EXPECT_EQ(cti::test::query_value(owner_url, "SELECT count(*) FROM schema_migrations"),
            cti::test::query_value(cti::test::database_url(), "SELECT count(*) FROM schema_migrations"));
  // The tables are the owner's; the server's role works rows through cti_app.
  EXPECT_EQ(cti::test::query_value(owner_url, "SELECT tableowner FROM pg_tables"
                                              " WHERE schemaname = 'public' AND tablename = 'calls'"),
            "postgres");
  EXPECT_EQ(cti::test::query_value(server_url, "SELECT has_table_privilege('calls', 'INSERT')::text"), "true");
  // Again: nothing to do.
  auto [again_code, again_out] = cti::test::run_binary({"migrate"}, env);
  EXPECT_EQ(again_code, 0) << again_out;
  EXPECT_NE(again_out.find("up to date"), std::string::npos) << again_out;
}

TEST(server_binary, send_test_webhook_script_posts_signed_fixtures_in_both_formats) {
  cti::test::server_process s;
  ASSERT_TRUE(s.start()) << s.output();
  auto app = cti::test::create_app_over_http(s.port());
  std::string prefix = "CTI_URL=http://127.0.0.1:" + std::to_string(s.port())
                       + " DIALPAD_WEBHOOK_SECRET=" + cti::test::e2e_webhook_secret + " bash "
                       + CTI_SOURCE_DIR + "/scripts/send-test-webhook.sh " + app;
  auto [code, out] = shell(prefix);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("HTTP 200"), std::string::npos) << out;
  auto [jcode, jout] = shell(prefix + " 05-call-inbound-hangup --jwt");
  EXPECT_EQ(jcode, 0) << jout;
  EXPECT_NE(jout.find("\"duplicate\":false"), std::string::npos) << jout;
  auto [dcode, dout] = shell(prefix);
  EXPECT_EQ(dcode, 0) << dout;
  EXPECT_NE(dout.find("\"duplicate\":true"), std::string::npos) << dout;
  auto [ucode, uout] = shell(prefix + " --unique");
  EXPECT_NE(uout.find("\"duplicate\":false"), std::string::npos) << uout;
  auto [bcode, bout] = shell("CTI_URL=http://127.0.0.1:" + std::to_string(s.port())
                             + " DIALPAD_WEBHOOK_SECRET=wrong bash " + CTI_SOURCE_DIR
                             + "/scripts/send-test-webhook.sh " + app);
  EXPECT_EQ(bcode, 1) << bout;
  EXPECT_NE(bout.find("HTTP 401"), std::string::npos) << bout;
  EXPECT_EQ(s.stop(SIGTERM), 0);
}

// A stop signal while the server still waits for its database (start-up
// retries for up to 30 s) ends the wait: exit 0 at once, not exit 1 once
// the wait is over.
TEST(server_binary, a_stop_signal_ends_the_wait_for_an_unreachable_database) {
  auto nowhere = "postgresql://cti@127.0.0.1:" + std::to_string(cti::test::free_port()) + "/cti";
  cti::test::server_process s{{{"DATABASE_URL", nowhere}, {"MIGRATION_DATABASE_URL", nowhere}}};
  EXPECT_FALSE(s.start(std::chrono::milliseconds{500}));
  ASSERT_TRUE(cti::test::eventually(
    [&] { return s.output().find("database not reachable yet") != std::string::npos; },
    std::chrono::seconds{15}))
    << s.output();
  s.signal(SIGTERM);
  EXPECT_EQ(s.wait_exit(std::chrono::seconds{60}), 0) << s.output();
  EXPECT_NE(s.output().find("shutting down before start-up finished"), std::string::npos)
    << s.output();
}

TEST(server_binary, serves_https_and_wss_with_tls_1_2_or_newer) {
  auto dir = "/tmp/cti-e2e-tls-" + std::to_string(::getpid());
  auto [gen, gen_out] = shell("mkdir -p " + dir + " && openssl req -x509 -newkey rsa:2048 -nodes"
                              " -keyout " + dir + "/key.pem -out " + dir + "/cert.pem -days 1"
                              " -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1");
  ASSERT_EQ(gen, 0) << gen_out;
  cti::test::server_process s{{{"TLS_CERT_FILE", dir + "/cert.pem"},
                               {"TLS_KEY_FILE", dir + "/key.pem"},
                               {"API_KEY_BCRYPT_COST", "4"}}};
  // server_process waits for a plain GET /, which a TLS port never answers.
  s.start(std::chrono::milliseconds{1500});
  auto base = "https://127.0.0.1:" + std::to_string(s.port());
  auto curl = "curl -sS --max-time 5 --cacert " + dir + "/cert.pem ";
  std::pair<int, std::string> up;
  ASSERT_TRUE(cti::test::eventually([&] {
    up = shell(curl + "-i " + base + "/");
    return up.first == 0;
  }, std::chrono::seconds{15})) << up.second << s.output();
  EXPECT_NE(up.second.find("HTTP/1.1 200"), std::string::npos) << up.second;
  EXPECT_NE(up.second.find("Strict-Transport-Security: max-age=31536000"), std::string::npos);
  // TLS 1.1 is refused by the server: the client below would complete a
  // TLS 1.1 handshake with a server that allowed it (security level 0 lets
  // this OpenSSL offer it; curl here refuses TLS 1.1 on its own, so it
  // cannot tell), and gets the server's "protocol version" alert instead.
  auto s_client = "echo | timeout 5 openssl s_client -connect 127.0.0.1:" + std::to_string(s.port())
                  + " -CAfile " + dir + "/cert.pem ";
  auto old_tls = shell(s_client + "-tls1_1 -cipher DEFAULT:@SECLEVEL=0 2>&1").second;
  EXPECT_NE(old_tls.find("alert protocol version"), std::string::npos) << old_tls;
  EXPECT_EQ(old_tls.find("New, TLS"), std::string::npos) << old_tls;
  auto tls12 = shell(s_client + "-tls1_2 2>&1").second;
  EXPECT_NE(tls12.find("New, TLSv1.2"), std::string::npos) << tls12;
  // Plain HTTP gets no answer.
  EXPECT_NE(shell("curl -sS --max-time 5 http://127.0.0.1:" + std::to_string(s.port()) + "/").first,
            0);
  // WSS: the upgrade completes over TLS.
  auto [acode, app_json] = shell(curl + "-X POST -H 'Authorization: "
                                 + std::string{cti::test::e2e_bearer}
                                 + "' -H 'Content-Type: application/json' -d '{\"name\":\"tls\"}' "
                                 + base + "/internal/apps");
  auto app = nlohmann::json::parse(app_json, nullptr, false).value("id", "");
  ASSERT_FALSE(app.empty()) << app_json;
  auto [kcode, key_json] = shell(curl + "-X POST -H 'Authorization: "
                                 + std::string{cti::test::e2e_bearer} + "' " + base
                                 + "/internal/apps/" + app + "/api-key");
  auto key = nlohmann::json::parse(key_json, nullptr, false).value("api_key", "");
  ASSERT_FALSE(key.empty()) << key_json;
  auto [wcode, wout] = shell(
    "printf 'GET /ws?api_key=" + key + " HTTP/1.1\\r\\nHost: localhost\\r\\nUpgrade: websocket\\r\\n"
    "Connection: Upgrade\\r\\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\n"
    "Sec-WebSocket-Version: 13\\r\\n\\r\\n' | timeout 3 openssl s_client -connect 127.0.0.1:"
    + std::to_string(s.port()) + " -quiet -CAfile " + dir + "/cert.pem");
  EXPECT_NE(wout.find("101 Switching Protocols"), std::string::npos) << wout;
  // Like every other answer over TLS (the 101 lacked it until the
  // twenty-eighth session).
  EXPECT_NE(wout.find("Strict-Transport-Security: max-age=31536000"), std::string::npos) << wout;
  EXPECT_EQ(s.stop(SIGTERM), 0) << s.output();
  // An encrypted key is an invalid configuration at once: no passphrase
  // prompt (OpenSSL's own, which waited on a terminal until then).
  auto [enc, enc_out] = shell("openssl pkey -in " + dir + "/key.pem -aes256 -passout pass:pw -out "
                              + dir + "/enc.pem 2>&1");
  ASSERT_EQ(enc, 0) << enc_out;
  auto [code, out] = cti::test::run_binary(
    {}, {{"CTI_ENV", "development"}, {"TLS_CERT_FILE", dir + "/cert.pem"},
         {"TLS_KEY_FILE", dir + "/enc.pem"}});
  EXPECT_EQ(code, 2) << out;
  EXPECT_NE(out.find("TLS_KEY_FILE: cannot load TLS_KEY_FILE"), std::string::npos) << out;
  EXPECT_EQ(out.find("pass phrase"), std::string::npos) << out;
  shell("rm -rf " + dir);
}

TEST(server_binary, idle_connections_are_bounded_by_max_connections) {
  cti::test::server_process s{{{"MAX_CONNECTIONS", "5"}}};
  ASSERT_TRUE(s.start()) << s.output();
  // Five idle connections hold every place (start() has closed its own).
  std::vector<std::unique_ptr<cti::test::raw_connection>> idle;
  ASSERT_TRUE(cti::test::eventually([&] {
    idle.clear();
    for (int i = 0; i < 5; ++i)
      idle.push_back(std::make_unique<cti::test::raw_connection>(s.port()));
    // The sixth is closed at once, unanswered.
    cti::test::raw_connection extra{s.port()};
    extra.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    return extra.closed_by_peer(std::chrono::seconds{2});
  }, std::chrono::seconds{10}));
  // A place frees when one of them leaves.
  idle.pop_back();
  EXPECT_TRUE(cti::test::eventually([&] {
    return cti::test::http_request(s.port(), "GET", "/").status == 200;
  }, std::chrono::seconds{5}));
  idle.clear();
  EXPECT_EQ(s.stop(SIGTERM), 0);
}
