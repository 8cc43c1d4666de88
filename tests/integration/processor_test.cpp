#include "db/processor.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "db/api_repo.hpp"
#include "db/calls_repo.hpp"
#include "db/events_repo.hpp"
#include "db/migrator.hpp"
#include "db/statements.hpp"
#include "domain/event_model.hpp"
#include "tests/fixture_files.hpp"
#include "tests/integration/test_db.hpp"

// The processor against a real PostgreSQL. The processor claims due events
// of every app, so each test owns a fresh database: nothing another test
// queued can be claimed here.

using nlohmann::json;
using cti::test::query_value;

namespace {

using cti::test::migrated_database;

std::unique_ptr<pqxx::connection> connect(const std::string& url) {
  return cti::test::connect_prepared(url);
}

/// Builds the ingest item the webhook path would store for `payload`
/// (identity and type derived as at ingest), received at `received_us`.
cti::ingest_item as_ingested(const std::string& app, const std::string& payload,
                             int64_t received_us) {
  auto j = json::parse(payload);
  cti::ingest_item it;
  it.app_id = app;
  it.event_type = cti::derive_event_type(j);
  it.dialpad_event_id = cti::derive_event_id(j, payload);
  it.payload = j.dump();
  it.format = cti::is_seed_payload(j) ? "seed" : "dialpad_json";
  it.received_at_us = received_us;
  it.serial = cti::event_serial(app, it.event_type, cti::extract_event(j));
  return it;
}

/// Stores `items` as the ingester does (one autocommit statement per chunk).
std::vector<cti::ingest_result> enqueue(pqxx::connection& c,
                                        const std::vector<cti::ingest_item>& items) {
  std::vector<cti::ingest_result> out;
  constexpr std::size_t chunk = 1000;
  for (std::size_t i = 0; i < items.size(); i += chunk) {
    std::vector<cti::ingest_item> part(items.begin() + static_cast<std::ptrdiff_t>(i),
                                       items.begin()
                                         + static_cast<std::ptrdiff_t>(std::min(items.size(), i + chunk)));
    pqxx::nontransaction tx{c};
    auto res = cti::db::insert_events(tx, part);
    out.insert(out.end(), res.begin(), res.end());
  }
  return out;
}

/// Runs rounds until one claims nothing; answers every applied event.
std::vector<cti::applied_event> drain(pqxx::connection& c, cti::process_settings s = {}) {
  std::vector<cti::applied_event> applied;
  for (int round = 0; round < 100000; ++round) {
    auto report = cti::db::process_batch(c, s);
    for (auto& a : report.applied)
      applied.push_back(std::move(a));
    if (report.claimed == 0)
      break;
  }
  return applied;
}

/// The contract-visible columns of a call (no ids, no bookkeeping), as
/// canonical jsonb text.
std::string call_state(const std::string& url, const std::string& app, int64_t call_id) {
  return query_value(url,
                     "SELECT (to_jsonb(c) - 'id' - 'app_id' - 'created_at' - 'updated_at'"
                     " - 'raw_payload' - 'last_event_at')::text"
                     " FROM calls c WHERE app_id = $1::uuid AND dialpad_call_id = $2",
                     {app, std::to_string(call_id)});
}

std::string voicemail_state(const std::string& url, const std::string& app, int64_t call_id) {
  return query_value(url,
                     "SELECT (to_jsonb(v) - 'id' - 'app_id' - 'call_id' - 'created_at'"
                     " - 'updated_at')::text"
                     " FROM voicemails v WHERE app_id = $1::uuid AND dialpad_call_id = $2",
                     {app, std::to_string(call_id)});
}

json call_row(const std::string& url, const std::string& app, int64_t call_id) {
  auto text = call_state(url, app, call_id);
  return text.empty() ? json{} : json::parse(text);
}

constexpr int64_t call_a = 5635304278851584; // fixtures 01-06, inbound, answered, held, recorded
constexpr int64_t call_b = 6199154384437248; // fixture 07, outbound, calling
constexpr int64_t call_c = 5748039452590080; // fixtures 08-11, missed, voicemail

const std::vector<std::string> lifecycle_files = {
  "01-call-inbound-ringing.json",         "02-call-inbound-connected.json",
  "03-call-inbound-hold.json",            "04-call-inbound-connected-after-hold.json",
  "05-call-inbound-hangup.json",          "06-call-inbound-recording.json",
  "07-call-outbound-calling.json",        "08-call-inbound-missed.json",
  "09-call-inbound-voicemail.json",       "10-call-inbound-voicemail-uploaded.json",
  "11-call-inbound-voicemail-transcription.json",
};

std::vector<std::string> lifecycle_payloads() {
  std::vector<std::string> out;
  for (const auto& f : lifecycle_files)
    out.push_back(cti::test::fixture_text(f));
  return out;
}

/// Queues `payloads` for `app` in the given order and processes them all.
std::vector<cti::applied_event> apply_in_order(pqxx::connection& c, const std::string& app,
                                               const std::vector<std::string>& payloads) {
  std::vector<cti::ingest_item> items;
  int64_t t = 1769596200000000;
  for (const auto& p : payloads)
    items.push_back(as_ingested(app, p, t += 1000));
  enqueue(c, items);
  return drain(c);
}

std::string seed_event(const std::string& type, const std::string& id, int64_t call_id,
                       const std::string& time, const std::string& from = "+15550001111") {
  return json{{"event_type", type},
              {"event_id", id},
              {"dialpad_call_id", call_id},
              {"direction", "inbound"},
              {"from", from},
              {"to", "+15559990000"},
              {"timestamp", time}}
    .dump();
}

/// `settings` for the round that starts where `report`'s round handed back.
cti::process_settings continuing(cti::process_settings settings, const cti::process_report& report) {
  settings.has_after = true;
  settings.after_us = report.next_us;
  settings.after_id = report.next_id;
  return settings;
}

} // namespace

TEST(processor, fixture_lifecycles_in_order_give_the_expected_records) {
  auto url = migrated_database("proc_order");
  auto app = cti::test::create_app(url);
  auto c = connect(url);
  auto payloads = lifecycle_payloads();
  payloads.push_back(cti::test::fixture_text("12-sms-inbound.json"));
  auto applied = apply_in_order(*c, app, payloads);

  auto a = call_row(url, app, call_a);
  ASSERT_FALSE(a.is_null());
  EXPECT_EQ(a["status"], "ended");
  EXPECT_EQ(a["direction"], "inbound");
  EXPECT_EQ(a["from_number"], "+17025550143");
  EXPECT_EQ(a["to_number"], "+14155550123");
  EXPECT_EQ(a["dialpad_user_id"], 5171365938069504);
  EXPECT_FALSE(a["answered_at"].is_null());
  EXPECT_FALSE(a["ended_at"].is_null());
  EXPECT_FALSE(a["duration_seconds"].is_null());
  EXPECT_FALSE(a["recording_url"].is_null());
  EXPECT_EQ(a["has_voicemail"], false);

  auto b = call_row(url, app, call_b);
  EXPECT_EQ(b["status"], "ringing");
  EXPECT_EQ(b["direction"], "outbound");

  auto cc = call_row(url, app, call_c);
  EXPECT_EQ(cc["status"], "missed");
  EXPECT_EQ(cc["has_voicemail"], true);
  auto vm = json::parse(voicemail_state(url, app, call_c));
  EXPECT_FALSE(vm["recording_url"].is_null());
  EXPECT_FALSE(vm["transcript"].is_null());
  EXPECT_EQ(vm["callback_status"], "pending");

  EXPECT_EQ(query_value(url, "SELECT count(*) FROM messages WHERE app_id = $1::uuid", {app}), "1");
  EXPECT_EQ(query_value(url, "SELECT count(*) FROM dialpad_users WHERE app_id = $1::uuid", {app}),
            "1");

  // Every event processed once; the stream is 1..n over the applied ones.
  EXPECT_EQ(query_value(url, "SELECT count(*) FROM webhook_events WHERE state = 'processed'"
                             " AND attempts = 1 AND app_id = $1::uuid", {app}),
            std::to_string(payloads.size()));
  ASSERT_FALSE(applied.empty());
  for (std::size_t i = 0; i < applied.size(); ++i) {
    EXPECT_EQ(applied[i].seq, static_cast<int64_t>(i + 1));
    EXPECT_EQ(applied[i].app_id, app);
  }
  EXPECT_EQ(query_value(url, "SELECT last_seq FROM apps WHERE id = $1::uuid", {app}),
            std::to_string(applied.size()));
  EXPECT_EQ(query_value(url, "SELECT count(*) FROM webhook_events WHERE app_id = $1::uuid"
                             " AND (outcome = 'applied') <> (seq IS NOT NULL)", {app}),
            "0");

  // Dialpad's second `connected` (after hold) is published as call.resumed.
  std::vector<std::string> types;
  for (const auto& ev : applied)
    types.push_back(ev.event_type);
  EXPECT_NE(std::find(types.begin(), types.end(), "call.resumed"), types.end());
  EXPECT_NE(std::find(types.begin(), types.end(), "sms.received"), types.end());
  // ... and stored as such, so the events API shows what was published.
  EXPECT_EQ(query_value(url, "SELECT count(*) FROM webhook_events WHERE app_id = $1::uuid"
                             " AND event_type = 'call.resumed'", {app}),
            std::to_string(std::count(types.begin(), types.end(), "call.resumed")));
  // Published objects are the contract's.
  for (const auto& ev : applied) {
    if (ev.event_type.rfind("call.", 0) == 0) {
      auto call = json::parse(ev.call_json);
      EXPECT_TRUE(call.contains("crm_user_id"));
      EXPECT_EQ(call["id"].get<std::string>().size(), 36u);
    }
  }
}

TEST(processor, shuffled_delivery_orders_give_the_same_final_records) {
  auto url = migrated_database("proc_shuffle");
  auto c = connect(url);
  auto payloads = lifecycle_payloads();
  auto reference_app = cti::test::create_app(url, "reference");
  apply_in_order(*c, reference_app, payloads);
  auto ref_a = call_state(url, reference_app, call_a);
  auto ref_b = call_state(url, reference_app, call_b);
  auto ref_c = call_state(url, reference_app, call_c);
  auto ref_vm = voicemail_state(url, reference_app, call_c);
  ASSERT_FALSE(ref_a.empty());
  ASSERT_FALSE(ref_vm.empty());

  const unsigned seed = 20261201;
  std::mt19937 rng{seed};
  for (int round = 0; round < 60; ++round) {
    auto order = payloads;
    if (round == 0)
      std::reverse(order.begin(), order.end());
    else
      std::shuffle(order.begin(), order.end(), rng);
    auto app = cti::test::create_app(url, "shuffle " + std::to_string(round));
    apply_in_order(*c, app, order);
    SCOPED_TRACE("seed " + std::to_string(seed) + " round " + std::to_string(round));
    EXPECT_EQ(call_state(url, app, call_a), ref_a);
    EXPECT_EQ(call_state(url, app, call_b), ref_b);
    EXPECT_EQ(call_state(url, app, call_c), ref_c);
    EXPECT_EQ(voicemail_state(url, app, call_c), ref_vm);
  }
}

TEST(processor, a_repeated_event_changes_nothing_and_takes_no_seq) {
  auto url = migrated_database("proc_repeat");
  auto app = cti::test::create_app(url);
  auto c = connect(url);
  auto ring = seed_event("call.ring", "r1", 42, "2026-01-28T10:30:00Z");
  auto end = seed_event("call.ended", "e1", 42, "2026-01-28T10:31:00Z");
  auto first = apply_in_order(*c, app, {ring, end});
  ASSERT_EQ(first.size(), 2u);
  auto before = query_value(url, "SELECT updated_at::text || status FROM calls WHERE app_id = $1::uuid",
                            {app});

  // The same deliveries again are duplicates at ingest: nothing new is queued.
  auto again = enqueue(*c, {as_ingested(app, ring, 1), as_ingested(app, end, 2)});
  EXPECT_TRUE(again[0].duplicate);
  EXPECT_TRUE(again[1].duplicate);
  EXPECT_TRUE(drain(*c).empty());

  // The same facts under new identities change nothing either.
  auto ring2 = seed_event("call.ring", "r2", 42, "2026-01-28T10:30:00Z");
  auto end2 = seed_event("call.ended", "e2", 42, "2026-01-28T10:31:00Z");
  EXPECT_TRUE(apply_in_order(*c, app, {end2, ring2}).empty());
  EXPECT_EQ(query_value(url, "SELECT outcome FROM webhook_events WHERE dialpad_event_id = 'e2'"),
            "unchanged");
  EXPECT_EQ(query_value(url, "SELECT outcome FROM webhook_events WHERE dialpad_event_id = 'r2'"),
            "rejected_transition");
  EXPECT_EQ(query_value(url, "SELECT count(*) FROM webhook_events WHERE seq IS NOT NULL"), "2");
  EXPECT_EQ(query_value(url, "SELECT updated_at::text || status FROM calls WHERE app_id = $1::uuid",
                        {app}),
            before);
  EXPECT_EQ(query_value(url, "SELECT last_seq FROM apps WHERE id = $1::uuid", {app}), "2");
}

TEST(processor, a_later_report_of_the_same_status_is_stored_as_the_ordering_mark) {
  // started@10s, resumed@30s (active again: unchanged, not pushed, nothing
  // shown moves), then a late held@20s, each in its own round: the stored
  // mark refuses the hold, whatever the delivery order.
  auto url = migrated_database("proc_mark");
  auto app = cti::test::create_app(url);
  auto c = connect(url);
  ASSERT_EQ(apply_in_order(*c, app, {seed_event("call.ring", "r", 42, "2026-01-28T10:30:00Z")}).size(), 1u);
  ASSERT_EQ(apply_in_order(*c, app, {seed_event("call.started", "s", 42, "2026-01-28T10:30:10Z")}).size(), 1u);
  auto before = query_value(url, "SELECT updated_at::text FROM calls WHERE app_id = $1::uuid", {app});
  EXPECT_TRUE(apply_in_order(*c, app, {seed_event("call.resumed", "u", 42, "2026-01-28T10:30:30Z")}).empty());
  EXPECT_EQ(query_value(url, "SELECT outcome FROM webhook_events WHERE dialpad_event_id = 'u'"),
            "unchanged");
  EXPECT_EQ(query_value(url, "SELECT updated_at::text FROM calls WHERE app_id = $1::uuid", {app}),
            before);
  EXPECT_EQ(query_value(url, "SELECT (extract(epoch FROM last_event_at) * 1000)::bigint::text"
                             " FROM calls WHERE app_id = $1::uuid",
                        {app}),
            "1769596230000");
  EXPECT_TRUE(apply_in_order(*c, app, {seed_event("call.held", "h", 42, "2026-01-28T10:30:20Z")}).empty());
  EXPECT_EQ(query_value(url, "SELECT outcome FROM webhook_events WHERE dialpad_event_id = 'h'"),
            "rejected_transition");
  EXPECT_EQ(call_row(url, app, 42)["status"], "active");
  EXPECT_EQ(query_value(url, "SELECT last_seq FROM apps WHERE id = $1::uuid", {app}), "2");
}

TEST(processor, an_unknown_event_type_is_ignored) {
  auto url = migrated_database("proc_ignored");
  auto app = cti::test::create_app(url);
  auto c = connect(url);
  auto applied = apply_in_order(
    *c, app, {json{{"event_type", "contact.updated"}, {"event_id", "x1"}}.dump()});
  EXPECT_TRUE(applied.empty());
  EXPECT_EQ(query_value(url, "SELECT state || ':' || outcome FROM webhook_events"),
            "processed:ignored");
  EXPECT_EQ(query_value(url, "SELECT last_seq FROM apps WHERE id = $1::uuid", {app}), "0");
}

TEST(processor, four_pollers_process_20000_events_exactly_once) {
  auto url = migrated_database("proc_concurrent");
  std::vector<std::string> apps = {cti::test::create_app(url, "one"),
                                   cti::test::create_app(url, "two")};
  // 4,000 calls (2,000 per app), each ring → started → held → started → ended,
  // with the calls' events interleaved in arrival order as real traffic is.
  constexpr int calls_per_app = 2000;
  const std::vector<std::string> steps = {"call.ring", "call.started", "call.held", "call.started",
                                          "call.ended"};
  std::vector<cti::ingest_item> items;
  int64_t t = 1769596200000000;
  for (std::size_t s = 0; s < steps.size(); ++s)
    for (int n = 0; n < calls_per_app; ++n)
      for (std::size_t a = 0; a < apps.size(); ++a) {
        auto time = "2026-01-28T10:3" + std::to_string(s) + ":00Z";
        auto id = "ev-" + std::to_string(n) + "-" + std::to_string(s);
        items.push_back(as_ingested(apps[a], seed_event(steps[s], id, 1000 + n, time), t += 1));
      }
  ASSERT_EQ(items.size(), 20000u);
  {
    auto c = connect(url);
    enqueue(*c, items);
  }

  std::atomic<bool> failed{false};
  std::vector<std::vector<cti::applied_event>> published(4);
  std::vector<std::thread> pollers;
  for (int p = 0; p < 4; ++p)
    pollers.emplace_back([&, p] {
      try {
        auto c = connect(url);
        // Until the queue is empty for this poller twice in a row.
        for (int idle = 0; idle < 2;) {
          auto report = cti::db::process_batch(*c, {});
          for (auto& a : report.applied)
            published[static_cast<std::size_t>(p)].push_back(std::move(a));
          idle = report.claimed == 0 ? idle + 1 : 0;
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << "poller " << p << ": " << e.what();
        failed = true;
      }
    });
  for (auto& t : pollers)
    t.join();
  ASSERT_FALSE(failed);

  // Each event processed once, at the first attempt.
  EXPECT_EQ(query_value(url, "SELECT count(*) FROM webhook_events WHERE state = 'processed'"
                             " AND attempts = 1 AND last_error IS NULL"),
            "20000");
  // Every call ended, with its times filled in.
  for (const auto& app : apps) {
    EXPECT_EQ(query_value(url, "SELECT count(*) FROM calls WHERE app_id = $1::uuid"
                               " AND status = 'ended' AND answered_at IS NOT NULL"
                               " AND ended_at IS NOT NULL",
                          {app}),
              std::to_string(calls_per_app));
  }
  // Each app's stream is exactly 1..n, and what was published is exactly it.
  for (const auto& app : apps) {
    auto applied = query_value(url, "SELECT count(*) FROM webhook_events WHERE app_id = $1::uuid"
                                    " AND outcome = 'applied'", {app});
    EXPECT_EQ(query_value(url, "SELECT count(DISTINCT seq)::text || ':' || min(seq) || ':' || max(seq)"
                               " FROM webhook_events WHERE app_id = $1::uuid AND seq IS NOT NULL",
                          {app}),
              applied + ":1:" + applied);
    std::set<int64_t> seqs;
    for (const auto& per_poller : published)
      for (const auto& a : per_poller)
        if (a.app_id == app) {
          EXPECT_TRUE(seqs.insert(a.seq).second) << "seq published twice: " << a.seq;
        }
    EXPECT_EQ(std::to_string(seqs.size()), applied);
  }
  // Within one poller, each app's published seqs rise.
  for (const auto& per_poller : published) {
    std::map<std::string, int64_t> last;
    for (const auto& a : per_poller) {
      EXPECT_GT(a.seq, last[a.app_id]);
      last[a.app_id] = a.seq;
    }
  }
}

TEST(processor, a_poller_killed_mid_batch_leaves_its_batch_to_another) {
  auto url = migrated_database("proc_killed");
  auto app = cti::test::create_app(url);
  {
    auto c = connect(url);
    enqueue(*c, {as_ingested(app, seed_event("call.ring", "k1", 7, "2026-01-28T10:30:00Z"), 1),
                 as_ingested(app, seed_event("call.started", "k2", 7, "2026-01-28T10:30:05Z"), 2),
                 as_ingested(app, seed_event("call.ring", "k3", 8, "2026-01-28T10:30:06Z"), 3)});
  }
  // Hold the app row: the doomed poller applies its handlers, then blocks
  // where it assigns stream numbers, with its whole batch claimed.
  pqxx::connection blocker{url};
  pqxx::work hold{blocker};
  hold.exec_params("SELECT 1 FROM apps WHERE id = $1::uuid FOR UPDATE", app);

  auto doomed = connect(url);
  auto doomed_pid = doomed->backendpid();
  std::atomic<bool> threw{false};
  std::thread victim{[&] {
    try {
      cti::db::process_batch(*doomed, {});
    } catch (const std::exception&) {
      threw = true; // the connection died under it
    }
  }};
  auto blocked = cti::test::eventually(
    [&] {
      return query_value(url, "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1",
                         {std::to_string(doomed_pid)})
             == "Lock";
    },
    std::chrono::seconds{10});
  ASSERT_TRUE(blocked) << "the poller never reached the stream-number lock";
  EXPECT_EQ(query_value(url, "SELECT pg_terminate_backend($1)::text", {std::to_string(doomed_pid)}),
            "true");
  victim.join();
  EXPECT_TRUE(threw);
  hold.abort();

  // Nothing of the dead round stuck: another poller takes the batch.
  auto c = connect(url);
  auto applied = drain(*c);
  ASSERT_EQ(applied.size(), 3u);
  EXPECT_EQ(applied[0].seq, 1);
  EXPECT_EQ(applied[2].seq, 3);
  EXPECT_EQ(query_value(url, "SELECT count(*) FROM webhook_events WHERE state = 'processed'"
                             " AND attempts = 1"),
            "3");
  EXPECT_EQ(query_value(url, "SELECT count(*) FROM calls"), "2");
  EXPECT_EQ(query_value(url, "SELECT status FROM calls WHERE dialpad_call_id = 7"), "active");
}

/// A real failure inside the handler's transaction: a trigger on calls that
/// refuses the caller +15550000666 (drop trigger calls_refuse_666 to lift it).
static void refuse_caller_666(const std::string& url) {
  pqxx::connection admin{url};
  pqxx::work tx{admin};
  tx.exec("CREATE FUNCTION refuse_666() RETURNS trigger LANGUAGE plpgsql AS $$"
          " BEGIN IF NEW.from_number = '+15550000666' THEN"
          " RAISE EXCEPTION 'test refuses this caller'; END IF; RETURN NEW; END $$");
  tx.exec("CREATE TRIGGER calls_refuse_666 BEFORE INSERT OR UPDATE ON calls"
          " FOR EACH ROW EXECUTE FUNCTION refuse_666()");
  tx.commit();
}

TEST(processor, a_failing_handler_backs_off_then_dies_and_replay_recovers_it) {
  auto url = migrated_database("proc_failing");
  auto app = cti::test::create_app(url);
  refuse_caller_666(url);
  auto c = connect(url);
  enqueue(*c, {as_ingested(app, seed_event("call.ring", "bad", 66, "2026-01-28T10:30:00Z",
                                           "+15550000666"), 1),
               as_ingested(app, seed_event("call.ring", "good", 67, "2026-01-28T10:30:01Z"), 2)});
  cti::process_settings settings;
  settings.max_attempts = 3;

  // The database's clock, in seconds since the epoch.
  auto db_clock = [&] {
    return std::stod(query_value(url, "SELECT extract(epoch FROM clock_timestamp())"));
  };

  // First failure: retried later; the good event of the same batch is applied.
  auto before1 = db_clock();
  auto report = cti::db::process_batch(*c, settings);
  EXPECT_EQ(report.claimed, 2u);
  EXPECT_EQ(report.failed, 1u);
  ASSERT_EQ(report.applied.size(), 1u);
  EXPECT_EQ(report.applied[0].seq, 1);
  const std::string bad = "SELECT %s FROM webhook_events WHERE dialpad_event_id = 'bad'";
  auto bad_col = [&](const std::string& expr) {
    auto sql = bad;
    sql.replace(sql.find("%s"), 2, expr);
    return query_value(url, sql);
  };
  EXPECT_EQ(bad_col("state || ':' || attempts"), "pending:1");
  EXPECT_NE(bad_col("last_error").find("test refuses this caller"), std::string::npos);
  // Backoff: 1 s ±20 % after the round's start, so not due yet. The round
  // started between `before` and `after` (clock readings of the database),
  // so the due time lies within these bounds however slow the machine.
  auto due1 = std::stod(bad_col("extract(epoch FROM next_attempt_at)"));
  auto after1 = db_clock();
  EXPECT_GE(due1 - before1, 0.8 - 0.001);
  EXPECT_LE(due1 - after1, 1.2 + 0.001);
  EXPECT_EQ(cti::db::process_batch(*c, settings).claimed, 0u);

  // Time passes (made due by hand): the second failure waits about twice as long.
  query_value(url, "UPDATE webhook_events SET next_attempt_at = now() WHERE dialpad_event_id = 'bad'"
                   " RETURNING 1");
  auto before2 = db_clock();
  report = cti::db::process_batch(*c, settings);
  EXPECT_EQ(report.failed, 1u);
  EXPECT_EQ(bad_col("state || ':' || attempts"), "pending:2");
  auto due2 = std::stod(bad_col("extract(epoch FROM next_attempt_at)"));
  auto after2 = db_clock();
  EXPECT_GE(due2 - before2, 1.6 - 0.001);
  EXPECT_LE(due2 - after2, 2.4 + 0.001);

  // The third failure reaches EVENT_MAX_ATTEMPTS: dead, never claimed again.
  query_value(url, "UPDATE webhook_events SET next_attempt_at = now() WHERE dialpad_event_id = 'bad'"
                   " RETURNING 1");
  report = cti::db::process_batch(*c, settings);
  EXPECT_EQ(report.dead, 1u);
  EXPECT_EQ(bad_col("state || ':' || attempts"), "dead:3");
  query_value(url, "UPDATE webhook_events SET next_attempt_at = now() WHERE dialpad_event_id = 'bad'"
                   " RETURNING 1");
  EXPECT_EQ(cti::db::process_batch(*c, settings).claimed, 0u);
  EXPECT_EQ(query_value(url, "SELECT count(*) FROM calls WHERE dialpad_call_id = 66"), "0");

  // The cause is fixed and the event replayed: it is applied and takes the next seq.
  query_value(url, "DROP TRIGGER calls_refuse_666 ON calls");
  auto id = bad_col("id::text");
  {
    pqxx::work tx{*c};
    auto replayed = cti::db::replay_event(tx, id);
    tx.commit();
    ASSERT_TRUE(replayed.has_value());
    EXPECT_EQ(replayed->app_id, app);
  }
  EXPECT_EQ(bad_col("state"), "pending");
  auto applied = drain(*c, settings);
  ASSERT_EQ(applied.size(), 1u);
  EXPECT_EQ(applied[0].seq, 2);
  EXPECT_EQ(bad_col("state || ':' || outcome"), "processed:applied");
  EXPECT_EQ(query_value(url, "SELECT status FROM calls WHERE dialpad_call_id = 66"), "ringing");
}

// A grown round whose batch fails retries at most alone_max of its events
// one by one (each savepoint takes a subtransaction id); the rest stay
// pending, and the round hands back a position before them.
TEST(processor, a_failed_batch_retries_at_most_alone_max_events_and_leaves_the_rest) {
  auto url = migrated_database("proc_alone_max");
  auto app = cti::test::create_app(url);
  refuse_caller_666(url);
  auto c = connect(url);
  std::vector<cti::ingest_item> items;
  items.push_back(as_ingested(app, seed_event("call.ring", "a1", 71, "2026-01-28T10:30:00Z",
                                              "+15550000666"), 1000));
  for (int i = 2; i <= 5; ++i)
    items.push_back(as_ingested(app, seed_event("call.ring", "a" + std::to_string(i), 70 + i,
                                                "2026-01-28T10:30:00Z"),
                                1000 * i));
  enqueue(*c, items);
  cti::process_settings settings;
  settings.batch_size = 5;
  settings.alone_max = 2;
  auto report = cti::db::process_batch(*c, settings);
  EXPECT_EQ(report.claimed, 5u);
  EXPECT_EQ(report.failed, 1u);
  EXPECT_EQ(report.deferred, 3u);
  ASSERT_EQ(report.applied.size(), 1u);
  EXPECT_EQ(report.applied[0].seq, 1);
  EXPECT_GT(report.payload_bytes, 5u * 100);
  ASSERT_TRUE(report.has_next);
  EXPECT_EQ(report.next_us, 3000); // before a3, the first event left
  EXPECT_EQ(query_value(url, "SELECT string_agg(dialpad_event_id || ':' || state || ':' || attempts,"
                             " ',' ORDER BY received_at) FROM webhook_events"),
            "a1:pending:1,a2:processed:1,a3:pending:0,a4:pending:0,a5:pending:0");
  // The next round, from that position, applies the three.
  auto after = continuing(settings, report);
  auto next = cti::db::process_batch(*c, after);
  EXPECT_EQ(next.claimed, 3u);
  EXPECT_EQ(next.failed, 0u);
  EXPECT_EQ(next.applied.size(), 3u);
  EXPECT_EQ(query_value(url, "SELECT count(*) FROM calls"), "4");
}

// Two rounds that read a Dialpad user before either wrote it (its events
// in two batches side by side): each writes the user as it saw it, the one
// with the name learnt, the other with the email. The second write keeps
// what the first learnt. (Until the twenty-fifth session it wrote its stale
// copy whole, and the name was gone.)
TEST(processor, rounds_that_read_a_user_before_either_wrote_it_lose_nothing_it_learnt) {
  auto url = migrated_database("proc_user_merge");
  auto app = cti::test::create_app(url);
  auto a = connect(url);
  auto b = connect(url);
  const std::vector<cti::db::user_key> keys{{app, 4242}};
  pqxx::work ta{*a};
  pqxx::work tb{*b};
  auto seen_a = cti::db::find_dialpad_users(ta, keys);
  auto seen_b = cti::db::find_dialpad_users(tb, keys);
  ASSERT_TRUE(seen_a.empty());
  ASSERT_TRUE(seen_b.empty());
  auto now = std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
  cti::db::dialpad_user named;
  named.name = "Pat Doe";
  named.office_id = 77;
  named.last_seen_at = now;
  cti::db::dialpad_user mailed;
  mailed.email = "pat@example.com";
  mailed.last_seen_at = now - std::chrono::seconds{5};
  cti::db::write_dialpad_users(ta, {{keys[0], named}});
  ta.commit();
  cti::db::write_dialpad_users(tb, {{keys[0], mailed}}); // waits for ta's row, then merges
  tb.commit();
  EXPECT_EQ(query_value(url, "SELECT concat_ws('/', name, email, office_id,"
                             " last_seen_at = 'epoch'::timestamptz + $2::bigint * interval '1 microsecond')"
                             " FROM dialpad_users WHERE app_id = $1::uuid AND dialpad_user_id = 4242",
                        {app, std::to_string(now.time_since_epoch().count())}),
            "Pat Doe/pat@example.com/77/t");
}

// A round loads at most max_bytes of payloads (as received, not as
// compressed in the table: these compress a hundredfold): the events past
// it stay pending, and the report says some were left, so the poller comes
// back at once. The first event goes even when it alone is larger. (Until
// the twenty-fifth session a round of 500 events of 5 MiB bodies loaded
// 2.5 GB at once.)
TEST(processor, a_round_loads_at_most_its_payload_bytes_and_says_what_it_left) {
  auto url = migrated_database("proc_round_bytes");
  auto app = cti::test::create_app(url);
  auto c = connect(url);
  std::vector<cti::ingest_item> items;
  for (int i = 0; i < 5; ++i) {
    auto ev = json::parse(seed_event("call.ring", "big" + std::to_string(i), 500 + i,
                                     "2026-01-28T10:30:00Z"));
    ev["padding"] = std::string(1 << 20, 'x'); // 1 MiB
    items.push_back(as_ingested(app, ev.dump(), 1000 + i));
  }
  enqueue(*c, items);
  EXPECT_EQ(query_value(url, "SELECT bool_and(payload_bytes > 1048576 AND pg_column_size(payload) < 65536)"
                             " FROM webhook_events"),
            "t");
  cti::process_settings settings;
  settings.batch_size = 100;
  settings.max_bytes = 2 * (1 << 20) + 1000; // the third starts just before it, the fourth past it
  std::vector<std::size_t> applied, left;
  for (int round = 0; round < 3; ++round) {
    auto report = cti::db::process_batch(*c, settings);
    applied.push_back(report.applied.size());
    left.push_back(report.left_over);
  }
  EXPECT_EQ(applied, (std::vector<std::size_t>{3, 2, 0}));
  EXPECT_EQ(left, (std::vector<std::size_t>{2, 0, 0}));
  // One larger than the whole budget still goes (alone).
  settings.max_bytes = 1000;
  auto one = json::parse(seed_event("call.ring", "huge", 600, "2026-01-28T10:30:00Z"));
  one["padding"] = std::string(1 << 20, 'y');
  auto two = json::parse(seed_event("call.ring", "after-huge", 601, "2026-01-28T10:30:00Z"));
  enqueue(*c, {as_ingested(app, one.dump(), 2000), as_ingested(app, two.dump(), 2001)});
  auto report = cti::db::process_batch(*c, settings);
  EXPECT_EQ(report.applied.size(), 1u);
  EXPECT_EQ(report.left_over, 1u);
  EXPECT_EQ(cti::db::process_batch(*c, settings).applied.size(), 1u);
  // A budget of 0 still reads the first event (else nothing would go).
  settings.max_bytes = 0;
  enqueue(*c, {as_ingested(app, seed_event("call.ring", "zero-budget", 602, "2026-01-28T10:30:00Z"), 3000)});
  EXPECT_EQ(cti::db::process_batch(*c, settings).applied.size(), 1u);
  EXPECT_EQ(query_value(url, "SELECT count(*) FROM calls"), "8");
}

// A round that cannot get a lock within its lock timeout (a migration's
// ALTER TABLE, a VACUUM FULL, an operator's LOCK TABLE) stops and rolls
// back with no attempt counted: the lock is not the events' fault, and
// counting it would send healthy events to `dead`. A deadlock or a
// database out of resources is treated alike. (Until the twenty-fifth
// session the wait ran into the statement timeout, each event was then
// tried alone, and each failure counted.)
TEST(processor, a_lock_not_granted_in_time_aborts_the_round_and_counts_no_attempt) {
  auto url = migrated_database("proc_lock_wait");
  auto app = cti::test::create_app(url);
  auto c = connect(url);
  // Bounded without the lock timeout too (the round would wait for ever).
  pqxx::nontransaction{*c}.exec("SET statement_timeout = '5s'");
  enqueue(*c, {as_ingested(app, seed_event("call.ring", "locked", 91, "2026-01-28T10:30:00Z"), 1)});
  cti::process_settings settings;
  settings.lock_timeout_ms = 200;
  {
    pqxx::connection locker{url};
    pqxx::work hold{locker};
    hold.exec("LOCK TABLE calls IN ACCESS EXCLUSIVE MODE");
    try {
      cti::db::process_batch(*c, settings);
      ADD_FAILURE() << "the round went through a locked table";
    } catch (const pqxx::sql_error& e) {
      EXPECT_EQ(e.sqlstate(), "55P03");
    }
  } // the lock goes
  EXPECT_EQ(query_value(url, "SELECT state || '/' || attempts || '/' || coalesce(last_error, '-')"
                             " FROM webhook_events WHERE app_id = $1::uuid",
                        {app}),
            "pending/0/-");
  auto report = cti::db::process_batch(*c, settings);
  EXPECT_EQ(report.applied.size(), 1u);
  EXPECT_EQ(report.failed, 0u);
}

// POST /internal/events/{id}/replay of an event that took a seq: the
// stream keeps that number (a copy holds it, with the frame sent then), so
// the stream stays 1, 2, 3, … without a hole, and a seq is on exactly the
// applied events, whatever the replay's outcome.
TEST(processor, replaying_an_applied_event_leaves_no_hole_in_the_stream) {
  auto url = migrated_database("proc_replay_stream");
  auto app = cti::test::create_app(url);
  auto c = connect(url);
  auto ring = seed_event("call.ring", "r1", 42, "2026-01-28T10:30:00Z");
  auto end = seed_event("call.ended", "e1", 42, "2026-01-28T10:31:00Z");
  ASSERT_EQ(apply_in_order(*c, app, {ring, end}).size(), 2u);
  auto id_of = [&](const char* event) {
    return query_value(url, "SELECT id FROM webhook_events WHERE dialpad_event_id = $1", {event});
  };
  auto replay = [&](const std::string& id) {
    pqxx::work tx{*c};
    auto r = cti::db::replay_event(tx, id);
    tx.commit();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->state, "pending");
    EXPECT_FALSE(r->seq.has_value());
  };
  auto stream = [&] {
    auto ans = cti::db::run_query(*c, [&] {
      cti::db_query q;
      q.kind = cti::query_kind::stream_events;
      q.app_id = app;
      q.args = json{{"after", 0}, {"upto", 100}, {"limit", 100}}.dump();
      return q;
    }());
    std::vector<std::string> out;
    for (std::size_t i = 0; i < ans.applied.size(); ++i) {
      EXPECT_EQ(ans.applied[i].seq, static_cast<int64_t>(i + 1));
      out.push_back(ans.applied[i].event_type + ":" + std::to_string(ans.applied[i].seq));
    }
    return out;
  };
  auto mismatched = [&] {
    return query_value(url, "SELECT count(*) FROM webhook_events WHERE app_id = $1::uuid AND"
                            " (seq IS NOT NULL) IS DISTINCT FROM (COALESCE(outcome, '') = 'applied')",
                       {app});
  };

  // The call is deleted (as an operator would), so the replayed ring applies
  // again: it takes seq 3, and seq 1 stays in the stream.
  query_value(url, "DELETE FROM calls WHERE app_id = $1::uuid RETURNING 1", {app});
  replay(id_of("r1"));
  auto again = drain(*c);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].seq, 3);
  EXPECT_EQ(again[0].event_id, id_of("r1"));
  EXPECT_EQ(stream(), (std::vector<std::string>{"call.ring:1", "call.ended:2", "call.ring:3"}));
  EXPECT_EQ(mismatched(), "0");

  // Replayed once more it changes nothing (the call rings already): no
  // number, and seq 3 stays too.
  replay(id_of("r1"));
  EXPECT_TRUE(drain(*c).empty());
  EXPECT_EQ(query_value(url, "SELECT outcome || ':' || (seq IS NULL) FROM webhook_events"
                             " WHERE dialpad_event_id = 'r1'"),
            "unchanged:true");
  EXPECT_EQ(stream(), (std::vector<std::string>{"call.ring:1", "call.ended:2", "call.ring:3"}));
  EXPECT_EQ(mismatched(), "0");
  EXPECT_EQ(query_value(url, "SELECT last_seq FROM apps WHERE id = $1::uuid", {app}), "3");
  // The copies keep the frames sent at the time, and are listed as processed.
  EXPECT_EQ(query_value(url, "SELECT string_agg(left(dialpad_event_id, length(dialpad_event_id) - 9), ','"
                             " ORDER BY seq) FROM webhook_events WHERE dialpad_event_id LIKE 'replayed:%'"),
            "replayed:" + id_of("r1") + ":1,replayed:" + id_of("r1") + ":3");
  EXPECT_EQ(query_value(url, "SELECT count(*) FROM webhook_events WHERE published IS NOT NULL"), "3");

  // A copy is not replayed: it is that event once more.
  {
    pqxx::work tx{*c};
    auto copy = query_value(url, "SELECT id FROM webhook_events WHERE dialpad_event_id LIKE 'replayed:%'"
                                 " AND format = 'internal' ORDER BY seq LIMIT 1");
    try {
      cti::db::replay_event(tx, copy);
      ADD_FAILURE() << "a copy was replayed";
    } catch (const cti::db::api_error& e) {
      EXPECT_EQ(e.code, cti::errc::conflict);
    }
  }

  // A webhook whose own id merely looks like a copy's is replayed as any,
  // and one that took the name a copy of it would have had (before copies
  // had a random end) does not stop that.
  enqueue(*c, {as_ingested(app, seed_event("call.ring", "replayed:hello", 44, "2026-01-28T10:35:00Z"),
                           1769596250000000)});
  drain(*c); // seq 4
  enqueue(*c, {as_ingested(app, seed_event("call.ring", "replayed:" + id_of("replayed:hello") + ":4", 45,
                                           "2026-01-28T10:34:00Z"),
                           1769596260000000)});
  drain(*c); // seq 5
  replay(id_of("replayed:hello"));
  drain(*c);
  EXPECT_EQ(query_value(url, "SELECT count(*) FROM webhook_events WHERE format = 'internal'"
                             " AND dialpad_event_id LIKE $1", {"replayed:" + id_of("replayed:hello") + ":4:%"}),
            "1");

  // A replay that meets a poller applying the event waits for it, then
  // sees the seq it took: the number goes to a copy, as above. (Here the
  // "poller" is a transaction holding the event's row, marking it applied.)
  enqueue(*c, {as_ingested(app, seed_event("call.ring", "r3", 43, "2026-01-28T10:40:00Z"), 1769596300000000)});
  auto r3 = id_of("r3");
  auto poller = connect(url);
  pqxx::work held{*poller};
  held.exec_params("SELECT 1 FROM webhook_events WHERE id = $1::uuid FOR UPDATE", r3);
  std::thread replaying([&] { replay(r3); });
  EXPECT_TRUE(cti::test::eventually(
    [&] {
      return query_value(url, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                              " AND wait_event_type = 'Lock'")
             != "0";
    },
    std::chrono::seconds{10}));
  held.exec_params("UPDATE apps SET last_seq = last_seq + 1 WHERE id = $1::uuid", app);
  held.exec_params("UPDATE webhook_events SET state = 'processed', outcome = 'applied', attempts = 1,"
                   " processed_at = now(), seq = 6, published = '{\"t\":\"call.ring\",\"at\":1,"
                   "\"c\":null,\"v\":null,\"m\":null}' WHERE id = $1::uuid", r3);
  held.commit();
  replaying.join();
  EXPECT_EQ(query_value(url, "SELECT state || ':' || (seq IS NULL) FROM webhook_events WHERE id = $1",
                        {r3}),
            "pending:true");
  EXPECT_EQ(query_value(url, "SELECT count(*) FROM webhook_events WHERE dialpad_event_id LIKE $1",
                        {"replayed:" + r3 + ":6:%"}),
            "1");
  drain(*c);
  EXPECT_EQ(mismatched(), "0");
  EXPECT_EQ(query_value(url, "SELECT string_agg(seq::text, ',' ORDER BY seq) FROM webhook_events"
                             " WHERE app_id = $1::uuid AND seq IS NOT NULL", {app}),
            "1,2,3,4,5,6,7"); // r3 applied again: it takes 7
}

// An erase holds its app exclusively (db::app_lock_class); a round never
// waits for it: it leaves that app's events for a later round. Rounds and
// erases running together therefore never deadlock (they did: the erase
// locked the app row, then events a round held, while the round waited on
// the app row for its calls' foreign key).
TEST(processor, a_round_leaves_the_events_of_an_app_being_erased_and_never_deadlocks_with_it) {
  auto url = migrated_database("proc_erase_lock");
  auto app = cti::test::create_app(url);
  auto other = cti::test::create_app(url);
  auto c = connect(url);
  enqueue(*c, {as_ingested(app, seed_event("call.ring", "x1", 51, "2026-01-28T10:30:00Z", "+17025550188"), 1000),
               as_ingested(other, seed_event("call.ring", "y1", 52, "2026-01-28T10:30:00Z"), 2000)});
  {
    auto eraser = connect(url);
    pqxx::work erasing{*eraser};
    erasing.exec_params("SELECT pg_advisory_xact_lock($1, $2)", cti::db::app_lock_class,
                        cti::db::serial_lock_key(app));
    auto report = cti::db::process_batch(*c, {});
    EXPECT_EQ(report.claimed, 2u);
    EXPECT_EQ(report.deferred, 1u); // the erased app's event waits
    ASSERT_EQ(report.applied.size(), 1u);
    EXPECT_EQ(report.applied[0].app_id, other);
  }
  auto later = drain(*c);
  ASSERT_EQ(later.size(), 1u);
  EXPECT_EQ(later[0].app_id, app);

  // Erases of a number while two pollers apply new calls of that number.
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> pollers;
  for (int i = 0; i < 2; ++i)
    pollers.emplace_back([&] {
      auto pc = connect(url);
      while (!stop.load()) {
        try {
          cti::db::process_batch(*pc, {});
        } catch (const std::exception& e) {
          ADD_FAILURE() << "round: " << e.what();
          ++failures;
          return;
        }
      }
    });
  cti::db_query erase;
  erase.kind = cti::query_kind::erase;
  erase.app_id = app;
  erase.request_id = "test";
  erase.args = json{{"phone_number", "+17025550188"}, {"spellings", {"+17025550188", "17025550188", "7025550188"}}}
                 .dump();
  for (int round = 0; round < 20 && failures == 0; ++round) {
    std::vector<cti::ingest_item> items;
    for (int k = 0; k < 10; ++k) {
      auto n = round * 10 + k;
      items.push_back(as_ingested(app, seed_event("call.ring", "z" + std::to_string(n), 1000 + n,
                                                  "2026-01-28T10:30:00Z", "+17025550188"),
                                  1769596200000000 + n));
    }
    enqueue(*c, items);
    try {
      auto ans = cti::db::run_query(*c, erase);
      EXPECT_EQ(ans.status, 200) << ans.body;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "erase " << round << ": " << e.what();
    }
  }
  stop = true;
  for (auto& t : pollers)
    t.join();
  EXPECT_EQ(failures.load(), 0);
}

// An erase may run for seconds. A round whose claim met only the erased
// app's events must hand back a position past them, or every later round
// claims the same events again and no other app's event behind them is
// ever applied (a black-box audit saw every tenant stall for 20 s). The
// erase's commit asks every poller to rescan from the oldest.
TEST(processor, rounds_go_on_past_the_events_of_an_app_being_erased) {
  auto url = migrated_database("proc_erase_past");
  auto app = cti::test::create_app(url);
  auto other = cti::test::create_app(url);
  auto c = connect(url);
  enqueue(*c, {as_ingested(app, seed_event("call.ring", "e1", 61, "2026-01-28T10:30:00Z"), 1000),
               as_ingested(app, seed_event("call.ring", "e2", 62, "2026-01-28T10:30:00Z"), 2000),
               as_ingested(other, seed_event("call.ring", "f1", 63, "2026-01-28T10:30:00Z"), 3000)});
  auto eraser = connect(url);
  pqxx::work erasing{*eraser};
  erasing.exec_params("SELECT pg_advisory_xact_lock($1, $2)", cti::db::app_lock_class,
                      cti::db::serial_lock_key(app));
  cti::process_settings two;
  two.batch_size = 2;
  auto first = cti::db::process_batch(*c, two);
  EXPECT_EQ(first.claimed, 2u);
  EXPECT_EQ(first.deferred, 2u);
  EXPECT_EQ(first.erasing, 2u); // the poller does not come back for these at once
  ASSERT_TRUE(first.has_next);
  EXPECT_EQ(first.next_us, 2000); // past both, not back before e1
  auto after = continuing(two, first);
  auto second = cti::db::process_batch(*c, after);
  ASSERT_EQ(second.applied.size(), 1u);
  EXPECT_EQ(second.applied[0].app_id, other);

  // The erase's commit notifies a rescan (as a replay does).
  pqxx::connection listening{url};
  struct counter : pqxx::notification_receiver {
    using pqxx::notification_receiver::notification_receiver;
    void operator()(const std::string& payload, int) override {
      if (payload == cti::db::rescan_payload)
        ++rescans;
    }
    int rescans = 0;
  } rescans{listening, cti::db::events_channel};
  erasing.commit();
  cti::db_query erase;
  erase.kind = cti::query_kind::erase;
  erase.app_id = app;
  erase.request_id = "test";
  erase.args = json{{"phone_number", "+17025550177"}, {"spellings", {"+17025550177"}}}.dump();
  auto ans = cti::db::run_query(*c, erase);
  EXPECT_EQ(ans.status, 200) << ans.body;
  for (int i = 0; i < 50 && rescans.rescans == 0; ++i)
    listening.await_notification(0, 100'000);
  EXPECT_EQ(rescans.rescans, 1);
  // From the oldest, the erased app's events are applied.
  EXPECT_EQ(drain(*c, two).size(), 2u);
}

TEST(processor, a_round_hands_back_where_the_next_claim_may_start) {
  auto url = migrated_database("proc_cursor");
  auto app = cti::test::create_app(url);
  auto c = connect(url);
  enqueue(*c, {as_ingested(app, seed_event("call.ring", "p1", 1, "2026-01-28T10:30:00Z"), 1000),
               as_ingested(app, seed_event("call.ring", "p2", 2, "2026-01-28T10:30:00Z"), 2000),
               as_ingested(app, seed_event("call.ring", "p3", 3, "2026-01-28T10:30:00Z"), 3000)});
  cti::process_settings one;
  one.batch_size = 1;
  auto first = cti::db::process_batch(*c, one);
  ASSERT_EQ(first.claimed, 1u);
  ASSERT_TRUE(first.has_next);
  EXPECT_EQ(first.next_us, 1000); // the last claimed event (long before the visibility margin)
  // Make the second event look pending again *behind* the position: a claim
  // from the position does not see it; one from the oldest does.
  query_value(url, "UPDATE webhook_events SET received_at = timestamptz 'epoch'"
                   " + interval '500 microseconds' WHERE dialpad_event_id = 'p2' RETURNING 1");
  auto after = continuing(one, first);
  auto second = cti::db::process_batch(*c, after);
  ASSERT_EQ(second.applied.size(), 1u);
  EXPECT_EQ(query_value(url, "SELECT state FROM webhook_events WHERE dialpad_event_id = 'p3'"),
            "processed");
  EXPECT_EQ(query_value(url, "SELECT state FROM webhook_events WHERE dialpad_event_id = 'p2'"),
            "pending");
  EXPECT_EQ(cti::db::process_batch(*c, one).claimed, 1u);
  EXPECT_EQ(query_value(url, "SELECT state FROM webhook_events WHERE dialpad_event_id = 'p2'"),
            "processed");
}

TEST(processor, an_event_whose_call_another_poller_holds_waits_and_is_not_skipped) {
  auto url = migrated_database("proc_deferred");
  auto app = cti::test::create_app(url);
  auto c = connect(url);
  enqueue(*c, {as_ingested(app, seed_event("call.ring", "d1", 11, "2026-01-28T10:30:00Z"), 1000),
               as_ingested(app, seed_event("call.ring", "d2", 12, "2026-01-28T10:30:00Z"), 2000),
               as_ingested(app, seed_event("call.ring", "d3", 13, "2026-01-28T10:30:00Z"), 3000)});
  // Another "poller" owns call 12.
  pqxx::connection other{url};
  pqxx::work holder{other};
  holder.exec_params("SELECT pg_advisory_xact_lock($1, $2)", cti::db::serial_lock_class,
                     cti::db::serial_lock_key(app + "|c|12"));
  auto report = cti::db::process_batch(*c, {});
  EXPECT_EQ(report.claimed, 3u);
  EXPECT_EQ(report.deferred, 1u);
  EXPECT_EQ(report.applied.size(), 2u);
  EXPECT_EQ(query_value(url, "SELECT state || ':' || attempts FROM webhook_events"
                             " WHERE dialpad_event_id = 'd2'"),
            "pending:0");
  // The next position lies before the deferred event, so a claim from it
  // finds the event once its call is free.
  ASSERT_TRUE(report.has_next);
  EXPECT_LT(report.next_us, 2000 + 1);
  holder.abort();
  cti::process_settings after;
  after.has_after = true;
  after.after_us = report.next_us;
  after.after_id = report.next_id;
  auto again = cti::db::process_batch(*c, after);
  ASSERT_EQ(again.applied.size(), 1u);
  EXPECT_EQ(again.applied[0].seq, 3);
  EXPECT_EQ(query_value(url, "SELECT status FROM calls WHERE dialpad_call_id = 12"), "ringing");
}

TEST(processor, a_later_event_of_a_call_waits_for_an_earlier_one_another_poller_claimed) {
  auto url = migrated_database("proc_order");
  auto app = cti::test::create_app(url);
  auto c = connect(url);
  enqueue(*c, {as_ingested(app, seed_event("call.ring", "o1", 21, "2026-01-28T10:30:00Z"), 1000),
               as_ingested(app, seed_event("call.started", "o2", 21, "2026-01-28T10:31:00Z"), 2000),
               as_ingested(app, seed_event("call.ended", "o3", 21, "2026-01-28T10:33:00Z"), 3000),
               as_ingested(app, seed_event("call.ring", "o4", 22, "2026-01-28T10:30:00Z"), 4000)});
  EXPECT_EQ(query_value(url, "SELECT serial FROM webhook_events WHERE dialpad_event_id = 'o3'"),
            app + "|c|21");
  // Another poller has claimed the start (its row is locked) but has not
  // locked the call yet: this round claims the ring before it and the end
  // after it; the ring may go, the end must not overtake the start.
  pqxx::connection other{url};
  pqxx::work holder{other};
  holder.exec("SELECT 1 FROM webhook_events WHERE dialpad_event_id = 'o2' FOR UPDATE");
  auto report = cti::db::process_batch(*c, {});
  EXPECT_EQ(report.claimed, 3u); // o1, o3 and o4 (o2 is locked)
  EXPECT_EQ(report.deferred, 1u);
  ASSERT_EQ(report.applied.size(), 2u);
  EXPECT_EQ(report.applied[0].event_type, "call.ring");
  EXPECT_EQ(report.applied[1].event_type, "call.ring");
  EXPECT_EQ(query_value(url, "SELECT state || ':' || attempts FROM webhook_events"
                             " WHERE dialpad_event_id = 'o3'"),
            "pending:0");
  holder.abort();
  drain(*c);
  // Applied in arrival order: answered, then ended, with its duration.
  EXPECT_EQ(query_value(url, "SELECT status || ':' || (answered_at IS NOT NULL) || ':' || duration_seconds"
                             " FROM calls WHERE dialpad_call_id = 21"),
            "ended:true:120");
  EXPECT_EQ(query_value(url, "SELECT string_agg(outcome, ',' ORDER BY received_at) FROM webhook_events"
                             " WHERE dialpad_event_id IN ('o2', 'o3')"),
            "applied,applied");
}

TEST(processor, a_failed_earlier_event_does_not_hold_its_call_back) {
  auto url = migrated_database("proc_order_failed");
  auto app = cti::test::create_app(url);
  auto c = connect(url);
  enqueue(*c, {as_ingested(app, seed_event("call.ring", "f1", 31, "2026-01-28T10:30:00Z"), 1000),
               as_ingested(app, seed_event("call.ended", "f2", 31, "2026-01-28T10:33:00Z"), 2000)});
  // The ring failed once and waits for its retry.
  pqxx::nontransaction{*c}.exec("UPDATE webhook_events SET attempts = 1,"
                                " next_attempt_at = now() + interval '1 hour'"
                                " WHERE dialpad_event_id = 'f1'");
  auto report = cti::db::process_batch(*c, {});
  EXPECT_EQ(report.deferred, 0u);
  EXPECT_EQ(report.applied.size(), 1u);
}


// The hold-back probe (is an earlier event of this call still pending
// elsewhere?) must stay one index probe per claimed event whatever the
// statistics say. With statistics from an empty queue and a bulk load
// since (a drain after an outage), the planner once turned it into a
// semi-join that read the whole pending part of the serial index once and
// compared each claimed event with every pending row: 25 s for one round
// of 1,000 events over a 100,000-event backlog.
TEST(processor, the_hold_back_probe_stays_per_event_with_stale_statistics) {
  auto url = migrated_database("proc_stale_plan");
  auto app = cti::test::create_app(url);
  {
    pqxx::connection c{url};
    // Statistics of the empty queue, and no autovacuum to refresh them.
    pqxx::nontransaction n{c};
    n.exec("ALTER TABLE webhook_events SET (autovacuum_enabled = false)");
    // And what a busy queue has beside its backlog: events applied since
    // (their old versions still in the pending indexes until a vacuum),
    // older than the pending ones. With these, a plan from the empty
    // queue's statistics probed the received-at index (every pending
    // event older than the claimed one, 400 pages a probe, 27 ms a round
    // of 200) or the unprocessed one (no index condition at all, 2.3 s)
    // instead of the serial index, keyed by the call (thirty-second
    // session, 32,000 pending behind 60,000 applied).
    n.exec_params(
      "INSERT INTO webhook_events (app_id, dialpad_event_id, event_type, payload, format,"
      " received_at, serial)"
      " SELECT $1::uuid, 'applied-' || n, 'call.ring', '{}'::jsonb, 'seed',"
      " now() - interval '1 hour' + n * interval '1 microsecond', $1 || '|c|done-' || n"
      " FROM generate_series(0, 39999) AS n",
      app);
    n.exec("UPDATE webhook_events SET state = 'processed', processed_at = now(),"
           " outcome = 'applied', attempts = 1 WHERE dialpad_event_id LIKE 'applied-%'");
    n.exec("ANALYZE webhook_events");
    n.exec_params(
      "INSERT INTO webhook_events (app_id, dialpad_event_id, event_type, payload, format,"
      " received_at, serial)"
      " SELECT $1::uuid, 'stale-' || s || '-' || n, 'call.ring', '{}'::jsonb, 'seed',"
      " now() + (s * 20000 + n) * interval '1 microsecond', $1 || '|c|' || n"
      " FROM generate_series(0, 1) AS s, generate_series(0, 19999) AS n",
      app);
  }
  std::string sql;
  for (const auto& s : cti::db::prepared_statements())
    if (s.name == "hold_back")
      sql = s.sql;
  ASSERT_FALSE(sql.empty());
  pqxx::connection c{url};
  pqxx::work tx{c};
  // As a round plans it (see process_batch): a generic plan of the
  // prepared statement, under the round's guards.
  tx.exec(cti::db::processing_plan_settings());
  tx.exec("PREPARE hold_back_now (int4[], uuid[], uuid[], int4[]) AS " + sql);
  // The claim of a big round: the second event of 1,000 calls (their first
  // ones pending outside it), with their lock keys.
  auto claimed = tx.exec_params(
    "SELECT '{' || string_agg(id::text, ',') || '}', '{' || string_agg(hashtext(serial)::text, ',') || '}'"
    " FROM (SELECT id, serial FROM webhook_events WHERE dialpad_event_id LIKE 'stale-1-%'"
    " ORDER BY received_at LIMIT 1000) AS c");
  auto ids = claimed[0][0].as<std::string>();
  auto keys = claimed[0][1].as<std::string>();
  const auto args = "(" + tx.quote(keys) + ", " + tx.quote(ids) + ", " + tx.quote(ids) + ", '{}')";
  std::string plan;
  for (const auto& row : tx.exec("EXPLAIN EXECUTE hold_back_now" + args))
    plan += row[0].as<std::string>() + "\n";
  EXPECT_NE(plan.find("$3"), std::string::npos) << "not a generic plan:\n" << plan;
  // One probe of the serial index per claimed event (a subplan keyed by
  // that event's serial), never the whole index materialized and joined.
  EXPECT_EQ(plan.find("Materialize"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("Semi Join"), std::string::npos) << plan;
  EXPECT_NE(plan.find("webhook_events_pending_serial_idx"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("webhook_events_pending_idx"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("webhook_events_app_unprocessed_idx"), std::string::npos) << plan;
  EXPECT_NE(plan.find("Index Cond: ((serial >= me.serial) AND (serial <= me.serial)"),
            std::string::npos) << plan;
  EXPECT_EQ(plan.find("Sort"), std::string::npos) << plan;
  EXPECT_NE(plan.find("SubPlan"), std::string::npos) << plan;
  // And it answers: every claimed event waits for its call's first one.
  auto held = tx.exec("EXECUTE hold_back_now" + args);
  std::size_t behind = 0;
  for (const auto& row : held)
    if (row[0].is_null())
      ++behind;
  EXPECT_EQ(behind, 1000u);
}

// A round's plans are cached per connection; one made while a table was
// empty may probe it through any index that starts with app_id, and kept
// while the table grows it would read all of an app's calls per lookup.
// Asking for a refresh (the DB worker does, once per
// plan_refresh_interval) replans on the table as it is.
TEST(processor, a_refreshed_round_replans_what_it_planned_on_empty_tables) {
  auto url = migrated_database("proc_replan");
  auto app = cti::test::create_app(url);
  {
    pqxx::connection admin{url};
    pqxx::nontransaction n{admin};
    n.exec("ALTER TABLE calls SET (autovacuum_enabled = false)");
  }
  auto c = connect(url);
  auto lock_plan = [&] {
    pqxx::work tx{*c};
    tx.exec(cti::db::processing_plan_settings());
    std::string plan;
    auto keys = tx.quote("[{\"a\": \"" + app + "\", \"k\": 1}]");
    for (const auto& row : tx.exec("EXPLAIN EXECUTE calls_lock(" + keys + ")"))
      plan += row[0].as<std::string>() + "\n";
    return plan;
  };
  // The first round plans its statements while calls is empty.
  enqueue(*c, {as_ingested(app, seed_event("call.ring", "rp1", 1, "2026-01-28T10:30:00Z"), 1000)});
  ASSERT_EQ(cti::db::process_batch(*c, {}, false).applied.size(), 1u);
  auto empty_plan = lock_plan();
  {
    pqxx::connection admin{url};
    pqxx::nontransaction n{admin};
    n.exec_params("INSERT INTO calls (app_id, dialpad_call_id, status, started_at)"
                  " SELECT $1::uuid, 1000 + n, 'ended', now() FROM generate_series(1, 20000) AS n",
                  app);
  }
  // Without a refresh the plan made on the empty table stays.
  enqueue(*c, {as_ingested(app, seed_event("call.started", "rp2", 1, "2026-01-28T10:31:00Z"), 2000)});
  ASSERT_EQ(cti::db::process_batch(*c, {}, false).applied.size(), 1u);
  EXPECT_EQ(lock_plan(), empty_plan);
  // A refreshed round plans again: one probe of the unique key per call.
  enqueue(*c, {as_ingested(app, seed_event("call.ended", "rp3", 1, "2026-01-28T10:32:00Z"), 3000)});
  ASSERT_EQ(cti::db::process_batch(*c, {}, true).applied.size(), 1u);
  auto plan = lock_plan();
  EXPECT_NE(plan.find("Nested Loop"), std::string::npos) << plan;
  EXPECT_NE(plan.find("calls_app_dialpad_call_key"), std::string::npos)
    << plan << "\nplanned on the empty table:\n" << empty_plan;
  EXPECT_EQ(plan.find("Seq Scan"), std::string::npos) << plan;
  EXPECT_EQ(query_value(url, "SELECT status FROM calls WHERE app_id = '" + app
                               + "' AND dialpad_call_id = 1"),
            "ended");
}

// A call moving between ringing, active and held is updated in place (a
// HOT update, no new entry in any of its eight indexes): no index reads
// `status` (migration 009). Only leaving those states writes index entries.
TEST(processor, a_live_call_changes_status_without_new_index_entries) {
  auto url = migrated_database("proc_hot");
  auto app = cti::test::create_app(url);
  auto c = connect(url);
  enqueue(*c, {as_ingested(app, seed_event("call.ring", "h1", 51, "2026-01-28T10:30:00Z"), 1000),
               as_ingested(app, seed_event("call.started", "h2", 51, "2026-01-28T10:31:00Z"), 2000),
               as_ingested(app, seed_event("call.held", "h3", 51, "2026-01-28T10:32:00Z"), 3000),
               as_ingested(app, seed_event("call.started", "h4", 51, "2026-01-28T10:33:00Z"), 4000)});
  // One event per round: each status change is its own update.
  cti::process_settings one;
  one.batch_size = 1;
  for (int i = 0; i < 4; ++i)
    ASSERT_EQ(cti::db::process_batch(*c, one).applied.size(), 1u) << "round " << i;
  pqxx::nontransaction n{*c};
  n.exec("SELECT pg_stat_force_next_flush()");
  auto counts = query_value(url, "SELECT n_tup_ins || ':' || n_tup_upd || ':' || n_tup_hot_upd"
                                 " FROM pg_stat_user_tables WHERE relname = 'calls'");
  EXPECT_EQ(counts, "1:3:3"); // inserted by the ring; started, held, started in place
  EXPECT_EQ(query_value(url, "SELECT status || ':' || live FROM calls"), "active:true");
}
