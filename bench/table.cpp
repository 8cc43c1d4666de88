// cti-bench-table: reads the JSON lines scripts/bench.sh collected (one per
// scenario run) and prints the one table the issues ask for: figure, target,
// measured, pass/short. The same table goes into docs/BENCHMARKS.md with the
// date and the machine.
//
//   cti-bench-table RESULTS.jsonl [--quick]
//
// A figure whose scenario did not run is listed as "not run". With --quick
// the runs were shorter and smaller than the targets assume (fewer idle
// connections, a smaller fan-out): the verdicts are indicative only.

#include <cstdio>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

using json = nlohmann::json;

namespace {

struct figure {
  std::string name;
  std::string target;
  /// Picks the line of this figure (first match wins, or last when `last`).
  std::function<bool(const json&)> match;
  /// The measured text and whether it meets the target.
  std::function<std::pair<std::string, bool>(const json&)> judge;
  bool last = false;
};

std::string fmt(double v, int decimals = 0) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

double num(const json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : 0.0;
}

bool scenario_is(const json& j, const char* name) {
  return j.value("scenario", std::string{}) == name;
}

/// The fan-out to 10,000 as read by `reader` (cti-ws-bench --reader);
/// lines without `reader` are Beast's (before the raw reader existed).
figure fanout_figure(std::string name, std::string reader) {
  return {std::move(name), "<= 100 ms",
          [reader](const json& j) {
            return scenario_is(j, "ws_fanout") && j.value("reader", "beast") == reader;
          },
          [](const json& j) {
            std::string cpu;
            if (num(j, "server_cpu_ms") > 0)
              cpu = "; CPU: server " + fmt(num(j, "server_cpu_ms")) + " ms, client "
                    + fmt(num(j, "client_cpu_ms")) + " ms";
            return std::pair{fmt(num(j, "first_to_last_ms"), 1) + " ms (" + fmt(num(j, "received"))
                               + " of " + fmt(num(j, "connections")) + cpu + ")",
                             num(j, "first_to_last_ms") <= 100
                               && num(j, "received") == num(j, "connections")};
          }};
}

std::vector<figure> figures() {
  return {
    {"signed webhook ingest, durable (req/s)", ">= 10000/s",
     [](const json& j) { return scenario_is(j, "ingest"); },
     [](const json& j) {
       return std::pair{fmt(num(j, "rps")) + "/s (p99 " + fmt(num(j, "p99_ms"), 1) + " ms, "
                          + fmt(num(j, "errors")) + " errors)",
                        num(j, "rps") >= 10000 && num(j, "errors") == 0};
     }},
    {"ingest -> applied at 1,000/s, p99", "<= 20 ms",
     [](const json& j) { return scenario_is(j, "ingest_to_applied"); },
     [](const json& j) {
       // After the load generator's warm-up when measured (since the ninth
       // session), with the figure over every event beside it.
       if (j.contains("steady_p99_ms") && j["steady_p99_ms"].is_number())
         return std::pair{fmt(num(j, "steady_p99_ms"), 1) + " ms (p50 "
                            + fmt(num(j, "steady_p50_ms"), 1) + "; with the warm-up: p99 "
                            + fmt(num(j, "p99_ms"), 1) + ")",
                          num(j, "steady_p99_ms") <= 20};
       return std::pair{fmt(num(j, "p99_ms"), 1) + " ms (p50 " + fmt(num(j, "p50_ms"), 1) + ")",
                        num(j, "p99_ms") <= 20};
     }},
    {"drain of queued call events", ">= 10000/s",
     [](const json& j) { return scenario_is(j, "drain") && num(j, "batch_size") <= 50; },
     [](const json& j) {
       return std::pair{fmt(num(j, "events_per_s")) + "/s (" + fmt(num(j, "events")) + " events, "
                          + fmt(num(j, "attempts_gt_1")) + " retried)",
                        num(j, "events_per_s") >= 10000 && num(j, "attempts_gt_1") == 0};
     }},
    {"drain, larger EVENT_BATCH_SIZE (BENCH_DRAIN_BATCH)", ">= 10000/s",
     [](const json& j) { return scenario_is(j, "drain") && num(j, "batch_size") > 50; },
     [](const json& j) {
       return std::pair{fmt(num(j, "events_per_s")) + "/s (batch " + fmt(num(j, "batch_size")) + ", "
                          + fmt(num(j, "events")) + " events, "
                          + fmt(num(j, "attempts_gt_1")) + " retried)",
                        num(j, "events_per_s") >= 10000 && num(j, "attempts_gt_1") == 0};
     }},
    {"webhook -> WebSocket frame at 500/s, p50", "<= 5 ms",
     [](const json& j) { return scenario_is(j, "webhook_to_ws_frame") && !j.contains("nodes"); },
     [](const json& j) {
       // late_posts: events sent over 100 ms after their due time (the
       // rate was not held).
       return std::pair{fmt(num(j, "p50_ms"), 2) + " ms (" + fmt(num(j, "missing")) + " missing, "
                          + fmt(num(j, "late_posts")) + " late posts)",
                        num(j, "p50_ms") <= 5 && num(j, "missing") == 0
                          && j.contains("late_posts") && num(j, "late_posts") == 0};
     }},
    {"webhook -> WebSocket frame at 500/s, p99", "<= 25 ms",
     [](const json& j) { return scenario_is(j, "webhook_to_ws_frame") && !j.contains("nodes"); },
     [](const json& j) {
       return std::pair{fmt(num(j, "p99_ms"), 2) + " ms",
                        num(j, "p99_ms") <= 25 && num(j, "missing") == 0
                          && j.contains("late_posts") && num(j, "late_posts") == 0};
     }},
    {"idle WebSocket connections open", ">= 20000",
     [](const json& j) { return scenario_is(j, "ws_idle_rss"); },
     [](const json& j) { return std::pair{fmt(num(j, "open")), num(j, "open") >= 20000}; }},
    {"server memory per idle connection", "<= 20 KiB",
     [](const json& j) { return scenario_is(j, "ws_idle_rss"); },
     [](const json& j) {
       return std::pair{fmt(num(j, "kib_per_connection"), 1) + " KiB",
                        num(j, "kib_per_connection") <= 20};
     }},
    fanout_figure("one event to 10,000 subscribers, first to last", "beast"),
    fanout_figure("the same, subscribers read with recv() (--reader raw)", "raw"),
    {"reconnect storm: sessions replaying 100 missed events at once", "every one caught up, in order",
     [](const json& j) { return scenario_is(j, "ws_reconnect_storm"); },
     [](const json& j) {
       return std::pair{fmt(num(j, "complete")) + " of " + fmt(num(j, "connections")) + ", last after "
                          + fmt(num(j, "caught_up_last_ms")) + " ms (" + fmt(num(j, "closed"))
                          + " closed, " + fmt(num(j, "out_of_order")) + " out of order)",
                        num(j, "complete") == num(j, "connections") && num(j, "out_of_order") == 0
                          && num(j, "failed") == 0};
     }},
    {"GET /api/calls?limit=50 (req/s, p99)", ">= 5000/s, p99 < 20 ms",
     [](const json& j) { return scenario_is(j, "query_list"); },
     [](const json& j) {
       return std::pair{fmt(num(j, "rps")) + "/s, p99 " + fmt(num(j, "p99_ms"), 2) + " ms",
                        num(j, "rps") >= 5000 && num(j, "p99_ms") < 20 && num(j, "errors") == 0};
     }},
    {"GET /api/calls/{id} (req/s)", ">= 10000/s",
     [](const json& j) { return scenario_is(j, "query_by_id"); },
     [](const json& j) {
       return std::pair{fmt(num(j, "rps")) + "/s", num(j, "rps") >= 10000 && num(j, "errors") == 0};
     }},
    {"CSV export of every call, memory growth", "< 50 MB",
     [](const json& j) { return scenario_is(j, "export_csv"); },
     [](const json& j) {
       return std::pair{fmt(num(j, "growth_mib"), 1) + " MiB (" + fmt(num(j, "calls")) + " calls)",
                        num(j, "growth_mib") * 1.048576 < 50};
     }},
    {"webhook -> frame across a node link, p50 (most nodes)", "<= 5 ms",
     [](const json& j) { return scenario_is(j, "webhook_to_ws_frame") && num(j, "nodes") > 1; },
     [](const json& j) {
       return std::pair{fmt(num(j, "p50_ms"), 2) + " ms with " + fmt(num(j, "nodes")) + " nodes",
                        num(j, "p50_ms") <= 5 && num(j, "missing") == 0};
     },
     true},
    {"cluster: events lost or applied twice", "0",
     [](const json& j) { return scenario_is(j, "cluster_ingest_check"); },
     [](const json& j) {
       auto bad = num(j, "not_processed") + num(j, "attempts_gt_1");
       return std::pair{fmt(bad) + " (" + fmt(num(j, "nodes")) + " nodes)", bad == 0};
     },
     true},
    {"/health 503 after Postgres stops", "<= 2000 ms",
     [](const json& j) { return scenario_is(j, "health_flip"); },
     [](const json& j) {
       return std::pair{fmt(num(j, "to_503_after_stop_ms")) + " ms",
                        num(j, "to_503_after_stop_ms") <= 2000};
     }},
    {"/health 200 after Postgres is back", "<= 5000 ms",
     [](const json& j) { return scenario_is(j, "health_flip"); },
     [](const json& j) {
       return std::pair{fmt(num(j, "to_200_after_start_ms")) + " ms",
                        num(j, "to_200_after_start_ms") <= 5000};
     }},
    {"claim query beside an idle transaction (60 s; quick: 10 s)", "<= 10 ms",
     [](const json& j) { return scenario_is(j, "claim_idle_tx"); },
     [](const json& j) {
       return std::pair{fmt(num(j, "worst_ms"), 2) + " ms worst (" + fmt(num(j, "samples"))
                          + " samples)",
                        num(j, "worst_ms") <= 10};
     }},
  };
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: cti-bench-table RESULTS.jsonl [--quick]\n");
    return 2;
  }
  bool quick = argc > 2 && std::string{argv[2]} == "--quick";
  std::vector<json> lines;
  std::ifstream in{argv[1]};
  for (std::string line; std::getline(in, line);) {
    auto j = json::parse(line, nullptr, false);
    if (j.is_object())
      lines.push_back(std::move(j));
  }
  int pass = 0, shortfall = 0;
  std::printf("| figure | target | measured | %s |\n|---|---|---|---|\n",
              quick ? "verdict (quick run: indicative)" : "verdict");
  for (const auto& f : figures()) {
    std::optional<json> hit;
    for (const auto& j : lines)
      if (f.match(j)) {
        hit = j;
        if (!f.last)
          break;
      }
    if (!hit) {
      std::printf("| %s | %s | not run | - |\n", f.name.c_str(), f.target.c_str());
      continue;
    }
    auto [measured, ok] = f.judge(*hit);
    (ok ? pass : shortfall)++;
    std::printf("| %s | %s | %s | %s |\n", f.name.c_str(), f.target.c_str(), measured.c_str(),
                ok ? "pass" : "short");
  }
  std::printf("\n%d pass, %d short\n", pass, shortfall);
  return 0;
}
