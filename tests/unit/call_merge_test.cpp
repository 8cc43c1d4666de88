#include "domain/call_merge.hpp"

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/fixture_files.hpp"
#include <nlohmann/json.hpp>

using cti::call_merge;
using cti::call_record;
using cti::call_status;
using cti::event_data;
using cti::event_outcome;
using cti::timestamp;
using nlohmann::json;

namespace {

using cti::test::fixtures_dir;

/// The normalized event of one fixture; a missing or invalid file fails the test.
event_data fixture(const std::string& name) {
  auto path = fixtures_dir() / name;
  std::ifstream in(path);
  if (!in) {
    ADD_FAILURE() << "fixture missing: " << path;
    return {};
  }
  std::stringstream text;
  text << in.rdbuf();
  auto j = json::parse(text.str(), nullptr, false);
  if (!j.is_object()) {
    ADD_FAILURE() << "fixture is not a JSON object: " << path;
    return {};
  }
  return cti::extract_event(j);
}

timestamp ms(int64_t v) {
  return timestamp{std::chrono::milliseconds{v}};
}

/// Processing time in the tests: later than every fixture.
const timestamp now = ms(1800000000000);

const std::array<std::string, 6> call_a_files{
  "01-call-inbound-ringing.json",  "02-call-inbound-connected.json",
  "03-call-inbound-hold.json",     "04-call-inbound-connected-after-hold.json",
  "05-call-inbound-hangup.json",   "06-call-inbound-recording.json",
};

const char* const recording_a = "https://dialpad.com/blob/adminrecording/4808113440145408.mp3";
const char* const voicemail_c = "https://dialpad.com/blob/voicemail/5139273818587136.mp3";

/// A seed event of `type` for call 42, at `at_ms` when given.
event_data seed(const std::string& type, std::optional<int64_t> at_ms = std::nullopt) {
  event_data ev;
  ev.event_type = type;
  ev.seed = true;
  ev.dialpad_call_id = 42;
  if (at_ms)
    ev.event_time = ms(*at_ms);
  return ev;
}

/// Applies `ev` and returns the merge, feeding the row back into `call`.
call_merge feed(std::optional<call_record>& call, const event_data& ev) {
  auto m = cti::merge_call(call, ev, now);
  if (m.outcome != event_outcome::ignored)
    call = m.call;
  return m;
}

/// The call `events` make when they arrive in the order given.
std::optional<call_record> fed_in_order(const std::vector<event_data>& events) {
  std::optional<call_record> call;
  for (const auto& ev : events)
    feed(call, ev);
  return call;
}

/// Feeds `events` in every order; `check` sees each final row with the
/// order as a label ("2413": the second event first). Answers the number
/// of orders.
int for_every_order(const std::vector<event_data>& events,
                    const std::function<void(const std::optional<call_record>&,
                                             const std::string&)>& check) {
  std::vector<std::size_t> order(events.size());
  for (std::size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  int permutations = 0;
  do {
    std::optional<call_record> call;
    std::string label;
    for (auto i : order) {
      label += std::to_string(i + 1);
      auto m = feed(call, events[i]);
      EXPECT_NE(m.outcome, event_outcome::ignored) << label;
    }
    check(call, label);
    ++permutations;
  } while (std::next_permutation(order.begin(), order.end()));
  return permutations;
}

/// What the call came to, as the delivery in order gives it: status,
/// answer, end, duration, voicemail flag and recording (the orders tests).
void expect_same_outcome(const std::optional<call_record>& call, const call_record& want,
                         const std::string& label) {
  ASSERT_TRUE(call) << label;
  EXPECT_EQ(call->status, want.status) << label;
  EXPECT_EQ(call->answered_at, want.answered_at) << label;
  EXPECT_EQ(call->ended_at, want.ended_at) << label;
  EXPECT_EQ(call->duration_seconds, want.duration_seconds) << label;
  EXPECT_EQ(call->has_voicemail, want.has_voicemail) << label;
  EXPECT_EQ(call->recording_url, want.recording_url) << label;
}

} // namespace

// --- fixture scenarios -----------------------------------------------------------------

TEST(call_merge, fixture_lifecycle_01_to_06_ends_answered_with_recording) {
  struct step {
    call_status status;
    const char* published;
  };
  const std::array<step, 6> expected{{
    {call_status::ringing, "call.ring"},
    {call_status::active, "call.started"},
    {call_status::held, "call.held"},
    {call_status::active, "call.resumed"},
    {call_status::ended, "call.ended"},
    {call_status::ended, "call.recording.completed"},
  }};
  std::optional<call_record> call;
  for (std::size_t i = 0; i < call_a_files.size(); ++i) {
    auto m = feed(call, fixture(call_a_files[i]));
    EXPECT_EQ(m.outcome, event_outcome::applied) << call_a_files[i];
    EXPECT_EQ(m.created, i == 0) << call_a_files[i];
    EXPECT_EQ(m.status_changed, i < 5) << call_a_files[i];
    EXPECT_EQ(m.call.status, expected[i].status) << call_a_files[i];
    EXPECT_EQ(m.published_type, expected[i].published) << call_a_files[i];
  }
  ASSERT_TRUE(call);
  EXPECT_EQ(call->dialpad_call_id, 5635304278851584);
  EXPECT_EQ(call->status, call_status::ended);
  EXPECT_EQ(call->direction, "inbound");
  EXPECT_EQ(call->from_number, "+17025550143");
  EXPECT_EQ(call->to_number, "+14155550123");
  EXPECT_EQ(call->dialpad_user_id, 5171365938069504);
  EXPECT_EQ(call->started_at, ms(1769596200000));
  EXPECT_EQ(call->answered_at, ms(1769596206200));
  EXPECT_EQ(call->ended_at, ms(1769596385000));
  EXPECT_EQ(call->duration_seconds, 179);
  EXPECT_EQ(call->recording_url, recording_a);
  EXPECT_FALSE(call->has_voicemail);
  EXPECT_EQ(call->last_event_at, ms(1769596385120)); // the hangup, the last status change
}

TEST(call_merge, outbound_calling_creates_a_ringing_outbound_call) {
  auto m = cti::merge_call(std::nullopt, fixture("07-call-outbound-calling.json"), now);
  EXPECT_EQ(m.outcome, event_outcome::applied);
  EXPECT_TRUE(m.created);
  EXPECT_EQ(m.call.status, call_status::ringing);
  EXPECT_EQ(m.call.dialpad_call_id, 6199154384437248);
  EXPECT_EQ(m.call.direction, "outbound");
  EXPECT_EQ(m.call.from_number, "+14155550123");
  EXPECT_EQ(m.call.to_number, "+12065550188");
  EXPECT_EQ(m.call.started_at, ms(1769599800000));
  EXPECT_EQ(m.call.last_event_at, ms(1769599800090));
  EXPECT_FALSE(m.call.answered_at);
  EXPECT_FALSE(m.call.ended_at);
  EXPECT_FALSE(m.call.duration_seconds);
}

TEST(call_merge, missed_fixture_ends_unanswered_with_zero_duration) {
  auto m = cti::merge_call(std::nullopt, fixture("08-call-inbound-missed.json"), now);
  EXPECT_EQ(m.outcome, event_outcome::applied);
  EXPECT_EQ(m.call.status, call_status::missed);
  // No date_ended in the event: the event time stamps the end.
  EXPECT_EQ(m.call.ended_at, ms(1769603425300));
  EXPECT_FALSE(m.call.answered_at);
  EXPECT_EQ(m.call.duration_seconds, 0);
}

TEST(call_merge, voicemail_fixtures_09_to_11_build_the_call_and_the_voicemail) {
  std::optional<call_record> call;
  std::optional<cti::voicemail_record> vm;
  const std::array<std::string, 3> files{"09-call-inbound-voicemail.json",
                                         "10-call-inbound-voicemail-uploaded.json",
                                         "11-call-inbound-voicemail-transcription.json"};
  const std::array<event_outcome, 3> call_outcomes{event_outcome::applied, event_outcome::applied,
                                                   event_outcome::unchanged};
  for (std::size_t i = 0; i < files.size(); ++i) {
    auto ev = fixture(files[i]);
    auto m = feed(call, ev);
    EXPECT_EQ(m.outcome, call_outcomes[i]) << files[i];
    EXPECT_EQ(m.call.status, call_status::voicemail) << files[i];
    EXPECT_TRUE(m.call.has_voicemail) << files[i];
    auto v = cti::merge_voicemail(vm, ev, now);
    EXPECT_EQ(v.created, i == 0) << files[i];
    EXPECT_TRUE(v.changed) << files[i];
    vm = v.voicemail;
  }
  ASSERT_TRUE(call);
  EXPECT_EQ(call->ended_at, ms(1769603461000)); // date_ended of 10, filled in
  EXPECT_EQ(call->duration_seconds, 0);
  EXPECT_FALSE(call->recording_url); // the voicemail audio is not a call recording
  ASSERT_TRUE(vm);
  EXPECT_EQ(vm->dialpad_call_id, 5748039452590080);
  EXPECT_EQ(vm->from_number, "+13125550177");
  EXPECT_EQ(vm->to_number, "+14155550123");
  EXPECT_EQ(vm->dialpad_user_id, 5171365938069504);
  EXPECT_EQ(vm->recording_url, voicemail_c);
  EXPECT_EQ(vm->duration_seconds, 32);
  ASSERT_TRUE(vm->transcript);
  EXPECT_TRUE(vm->transcript->starts_with("Hi Jordan, this is Sam Patel"));
  EXPECT_EQ(vm->received_at, ms(1769603425600)); // the first voicemail event
  // A repeat delivery of the transcription changes nothing.
  auto again = cti::merge_voicemail(vm, fixture(files[2]), now);
  EXPECT_FALSE(again.created);
  EXPECT_FALSE(again.changed);
  EXPECT_EQ(again.voicemail, *vm);
}

TEST(call_merge, missed_then_voicemail_keeps_missed_and_flags_the_voicemail) {
  std::optional<call_record> call;
  feed(call, fixture("08-call-inbound-missed.json"));
  auto m9 = feed(call, fixture("09-call-inbound-voicemail.json"));
  EXPECT_EQ(m9.outcome, event_outcome::applied); // has_voicemail
  EXPECT_FALSE(m9.status_changed);
  EXPECT_EQ(m9.call.status, call_status::missed);
  EXPECT_TRUE(m9.call.has_voicemail);
  auto m10 = feed(call, fixture("10-call-inbound-voicemail-uploaded.json"));
  // Dialpad's own date_ended replaces the time derived from the missed event.
  EXPECT_EQ(m10.outcome, event_outcome::applied);
  EXPECT_EQ(m10.call.ended_at, ms(1769603461000));
  EXPECT_EQ(m10.call.status, call_status::missed);
}

TEST(call_merge, voicemail_then_missed_ends_missed_although_older) {
  // Dialpad stamps `missed` 0.3 s before `voicemail`; processed the other way
  // round, the terminal outcome still wins over the ordering rule.
  std::optional<call_record> call;
  feed(call, fixture("09-call-inbound-voicemail.json"));
  EXPECT_EQ(call->status, call_status::voicemail);
  auto m = feed(call, fixture("08-call-inbound-missed.json"));
  EXPECT_EQ(m.outcome, event_outcome::applied);
  EXPECT_EQ(m.call.status, call_status::missed);
  EXPECT_EQ(m.call.ended_at, ms(1769603425300));
}

// API.md: an event older than the last applied status change does not
// change the status, an end too (only the outcome after a voicemail is
// exempt, above): a call.ended stamped before the call was answered
// leaves it active.
TEST(call_merge, an_older_end_leaves_a_live_call_as_it_is) {
  const int64_t t0 = 1769594400000; // 2026-01-28T10:00:00Z
  std::optional<call_record> call;
  feed(call, seed("call.ring", t0 + 10000));
  feed(call, seed("call.started", t0 + 20000));
  EXPECT_EQ(feed(call, seed("call.held", t0 + 15000)).outcome, event_outcome::rejected_transition);
  auto m = feed(call, seed("call.ended", t0 + 12000));
  EXPECT_EQ(m.outcome, event_outcome::rejected_transition);
  EXPECT_TRUE(m.refused_as_older);
  EXPECT_FALSE(m.refused_from);
  EXPECT_EQ(m.call.status, call_status::active);
  EXPECT_FALSE(m.call.ended_at);
  // An older end that carries Dialpad's own date_ended does: the call did end.
  auto dated = seed("call.ended", t0 + 12000);
  dated.date_ended = ms(t0 + 40000);
  EXPECT_EQ(cti::merge_call(call, dated, now).call.status, call_status::ended);
  // A later end does end it.
  EXPECT_EQ(feed(call, seed("call.ended", t0 + 30000)).call.status, call_status::ended);
}

TEST(call_merge, an_older_event_never_rewinds_to_a_live_status) {
  std::optional<call_record> call;
  feed(call, fixture("03-call-inbound-hold.json"));
  auto m = feed(call, fixture("02-call-inbound-connected.json"));
  EXPECT_EQ(m.call.status, call_status::held);
}

TEST(call_merge, seed_voicemail_fixture_creates_the_voicemail_with_its_time) {
  auto ev = fixture("15-seed-voicemail.received.json");
  auto v = cti::merge_voicemail(std::nullopt, ev, now);
  EXPECT_TRUE(v.created);
  EXPECT_TRUE(v.changed);
  EXPECT_EQ(v.voicemail.received_at, ms(1769603465000));
  EXPECT_EQ(v.voicemail.recording_url, voicemail_c);
  EXPECT_EQ(v.voicemail.duration_seconds, 32);
  EXPECT_EQ(v.voicemail.dialpad_call_id, 5748039452590080);
  auto m = cti::merge_call(std::nullopt, ev, now);
  EXPECT_EQ(m.call.status, call_status::voicemail);
  EXPECT_TRUE(m.call.has_voicemail);
  EXPECT_FALSE(m.call.recording_url);
  EXPECT_FALSE(m.call.duration_seconds);
}

TEST(call_merge, voicemail_merge_uses_now_without_event_time_and_ignores_other_types) {
  auto v = cti::merge_voicemail(std::nullopt, seed("voicemail.received"), now);
  EXPECT_TRUE(v.created);
  EXPECT_EQ(v.voicemail.received_at, now);
  EXPECT_EQ(v.voicemail.dialpad_call_id, 42);
  for (const char* type : {"call.ended", "sms.received", "unknown"}) {
    auto none = cti::merge_voicemail(std::nullopt, seed(type, 1), now);
    EXPECT_FALSE(none.created) << type;
    EXPECT_FALSE(none.changed) << type;
    auto kept = cti::merge_voicemail(v.voicemail, seed(type, 1), now);
    EXPECT_FALSE(kept.changed) << type;
    EXPECT_EQ(kept.voicemail, v.voicemail) << type;
  }
}

TEST(call_merge, voicemail_merge_keeps_the_first_value_of_each_field) {
  auto first = seed("voicemail.received", 1000);
  first.voicemail_url = "https://v/1";
  first.transcript = "one";
  auto v = cti::merge_voicemail(std::nullopt, first, now);
  auto second = seed("voicemail.received", 2000);
  second.voicemail_url = "https://v/2";
  second.transcript = "two";
  second.voicemail_duration_seconds = 9;
  auto w = cti::merge_voicemail(v.voicemail, second, now);
  EXPECT_TRUE(w.changed); // the duration was new
  EXPECT_EQ(w.voicemail.recording_url, "https://v/1");
  EXPECT_EQ(w.voicemail.transcript, "one");
  EXPECT_EQ(w.voicemail.duration_seconds, 9);
  EXPECT_EQ(w.voicemail.received_at, ms(1000));
}

// --- every (status, event type) pair -----------------------------------------------------

namespace {

constexpr int64_t t0 = 1000000, t1 = 1010000, t2 = 1020000, t3 = 1030000, t4 = 1040000;

/// A realistic stored call in `s`, its last status change before t4.
call_record stored_call(call_status s) {
  call_record c;
  c.dialpad_call_id = 42;
  c.direction = "inbound";
  c.from_number = "+1";
  c.to_number = "+2";
  c.dialpad_user_id = 7;
  c.status = s;
  c.started_at = ms(t0);
  c.last_event_at = ms(t0);
  switch (s) {
    case call_status::ringing:
      break;
    case call_status::active:
    case call_status::held:
      c.answered_at = ms(t1);
      c.last_event_at = ms(s == call_status::held ? t2 : t1);
      break;
    case call_status::voicemail:
      c.has_voicemail = true;
      c.last_event_at = ms(t1);
      break;
    case call_status::ended:
      c.answered_at = ms(t1);
      c.ended_at = ms(t3);
      c.duration_seconds = 20;
      c.last_event_at = ms(t3);
      break;
    case call_status::missed:
    case call_status::rejected:
      c.ended_at = ms(t3);
      c.duration_seconds = 0;
      c.last_event_at = ms(t3);
      break;
  }
  return c;
}

struct pair_case {
  call_status from;
  const char* type;
  call_status to;
  event_outcome outcome;
};

constexpr auto A = event_outcome::applied;
constexpr auto U = event_outcome::unchanged;
constexpr auto R = event_outcome::rejected_transition;

using enum call_status;

const std::vector<pair_case> pair_table{
  // ringing
  {ringing, "call.ring", ringing, U},
  {ringing, "call.started", active, A},
  {ringing, "call.held", held, A},
  {ringing, "call.resumed", active, A},
  {ringing, "call.ended", ended, A},
  {ringing, "call.missed", missed, A},
  {ringing, "call.rejected", rejected, A},
  {ringing, "call.recording.completed", ringing, U},
  {ringing, "call.updated", ringing, U},
  {ringing, "voicemail.received", voicemail, A},
  // active
  {active, "call.ring", active, R},
  {active, "call.started", active, U},
  {active, "call.held", held, A},
  {active, "call.resumed", active, U},
  {active, "call.ended", ended, A},
  {active, "call.missed", active, R},
  {active, "call.rejected", active, R},
  {active, "call.recording.completed", active, U},
  {active, "call.updated", active, U},
  {active, "voicemail.received", voicemail, A},
  // held
  {held, "call.ring", held, R},
  {held, "call.started", active, A},
  {held, "call.held", held, U},
  {held, "call.resumed", active, A},
  {held, "call.ended", ended, A},
  {held, "call.missed", held, R},
  {held, "call.rejected", held, R},
  {held, "call.recording.completed", held, U},
  {held, "call.updated", held, U},
  {held, "voicemail.received", held, A}, // refused, but has_voicemail is new
  // voicemail
  {voicemail, "call.ring", voicemail, R},
  {voicemail, "call.started", voicemail, R},
  {voicemail, "call.held", voicemail, R},
  {voicemail, "call.resumed", voicemail, R},
  {voicemail, "call.ended", ended, A},
  {voicemail, "call.missed", missed, A},
  {voicemail, "call.rejected", voicemail, R},
  {voicemail, "call.recording.completed", voicemail, U},
  {voicemail, "call.updated", voicemail, U},
  {voicemail, "voicemail.received", voicemail, U},
  // ended
  {ended, "call.ring", ended, R},
  {ended, "call.started", ended, R},
  {ended, "call.held", ended, R},
  {ended, "call.resumed", ended, R},
  {ended, "call.ended", ended, U},
  {ended, "call.missed", ended, R},
  {ended, "call.rejected", ended, R},
  {ended, "call.recording.completed", ended, U},
  {ended, "call.updated", ended, U},
  {ended, "voicemail.received", ended, A}, // no status asked, has_voicemail is new
  // missed
  {missed, "call.ring", missed, R},
  {missed, "call.started", missed, R},
  {missed, "call.held", missed, R},
  {missed, "call.resumed", missed, R},
  {missed, "call.ended", missed, R},
  {missed, "call.missed", missed, U},
  {missed, "call.rejected", missed, R},
  {missed, "call.recording.completed", missed, U},
  {missed, "call.updated", missed, U},
  {missed, "voicemail.received", missed, A},
  // rejected
  {rejected, "call.ring", rejected, R},
  {rejected, "call.started", rejected, R},
  {rejected, "call.held", rejected, R},
  {rejected, "call.resumed", rejected, R},
  {rejected, "call.ended", rejected, R},
  {rejected, "call.missed", rejected, R},
  {rejected, "call.rejected", rejected, U},
  {rejected, "call.recording.completed", rejected, U},
  {rejected, "call.updated", rejected, U},
  {rejected, "voicemail.received", rejected, A},
};

/// The status a seed event of `type` asks for on a call in `from` (none:
/// it asks for no status).
std::optional<call_status> asked_status(std::string_view type, call_status from) {
  if (type == "call.ring")
    return ringing;
  if (type == "call.started" || type == "call.resumed")
    return active;
  if (type == "call.held")
    return call_status::held;
  if (type == "call.ended")
    return ended;
  if (type == "call.missed")
    return missed;
  if (type == "call.rejected")
    return rejected;
  if (type == "voicemail.received" && !cti::is_terminal(from))
    return voicemail;
  return std::nullopt;
}

} // namespace

TEST(call_merge, every_status_and_event_type_pair_gives_the_expected_status_and_outcome) {
  ASSERT_EQ(pair_table.size(), 70u);
  for (const auto& c : pair_table) {
    auto current = stored_call(c.from);
    auto m = cti::merge_call(current, seed(c.type, t4), now);
    std::string label = std::string(cti::to_string(c.from)) + " + " + c.type;
    EXPECT_EQ(m.call.status, c.to) << label;
    EXPECT_EQ(m.outcome, c.outcome) << label << ": " << cti::to_string(m.outcome);
    EXPECT_FALSE(m.created) << label;
    EXPECT_EQ(m.status_changed, c.to != c.from) << label;
    // Not applied: nothing shown moved (the ordering mark may have).
    if (m.outcome != event_outcome::applied) {
      auto shown = m.call;
      shown.last_event_at = current.last_event_at;
      EXPECT_EQ(shown, current) << label;
    }
    // The status change is stamped with the event time, and so is the same
    // status reported again (later than the mark); a refused or status-less
    // event keeps the mark.
    bool asks_same = asked_status(c.type, c.from) == c.from;
    EXPECT_EQ(m.call.last_event_at, c.to != c.from || asks_same ? ms(t4) : current.last_event_at)
      << label;
    EXPECT_EQ(m.mark_moved, asks_same && m.outcome != event_outcome::applied) << label;
    // A seed event keeps the type it names (call.resumed is Dialpad's connected on hold).
    EXPECT_EQ(m.published_type, c.type) << label;
  }
}

TEST(call_merge, status_times_are_stamped_by_the_event_time_of_the_change) {
  auto active = cti::merge_call(stored_call(ringing), seed("call.started", t4), now);
  EXPECT_EQ(active.call.answered_at, ms(t4));
  auto ended = cti::merge_call(stored_call(active.call.status), seed("call.ended", t4), now);
  EXPECT_EQ(ended.call.ended_at, ms(t4));
  EXPECT_EQ(ended.call.duration_seconds, (t4 - t1) / 1000); // answered at t1 in the stored call
  auto missed = cti::merge_call(stored_call(ringing), seed("call.missed", t4), now);
  EXPECT_EQ(missed.call.ended_at, ms(t4));
  EXPECT_EQ(missed.call.duration_seconds, 0);
  auto rejected = cti::merge_call(stored_call(ringing), seed("call.rejected"), now);
  EXPECT_EQ(rejected.call.ended_at, now); // no event time: processing time
  // ... but the ordering clock only moves with event times.
  EXPECT_EQ(rejected.call.last_event_at, stored_call(ringing).last_event_at);
}

// --- ordering, terminal, idempotence -------------------------------------------------------

TEST(call_merge, older_event_does_not_change_status_but_merges_data) {
  call_record current = stored_call(active);
  current.last_event_at = ms(t3);
  current.from_number.reset();
  current.recording_url.reset();
  auto old = seed("call.held", t2);
  old.from_number = "+1999";
  old.recording_url = "https://r/x";
  auto m = cti::merge_call(current, old, now);
  EXPECT_EQ(m.call.status, active);
  EXPECT_FALSE(m.status_changed);
  EXPECT_EQ(m.outcome, event_outcome::applied);
  EXPECT_EQ(m.call.from_number, "+1999");
  EXPECT_EQ(m.call.recording_url, "https://r/x");
  EXPECT_EQ(m.call.last_event_at, ms(t3));
  // With nothing else to merge, the refused change is a rejected transition.
  auto bare = cti::merge_call(stored_call(active), seed("call.held", t0), now);
  EXPECT_EQ(bare.outcome, event_outcome::rejected_transition);
  EXPECT_EQ(bare.call.status, active);
}

TEST(call_merge, an_event_at_the_same_time_is_not_older) {
  auto current = stored_call(active); // last_event_at t1
  auto m = cti::merge_call(current, seed("call.held", t1), now);
  EXPECT_EQ(m.call.status, held);
  EXPECT_EQ(m.outcome, event_outcome::applied);
}

TEST(call_merge, an_event_without_time_is_never_older) {
  auto m = cti::merge_call(stored_call(active), seed("call.held"), now);
  EXPECT_EQ(m.call.status, held);
  EXPECT_EQ(m.outcome, event_outcome::applied);
  // It leaves the ordering clock where the last timed change put it.
  EXPECT_EQ(m.call.last_event_at, ms(t1));
}

TEST(call_merge, a_change_without_time_does_not_make_later_timed_events_older) {
  // Seed events without a timestamp, then ones stamped long before the
  // processing time (a sender's clock, fixtures from another year): each
  // status change still applies.
  std::optional<call_record> call;
  auto ring = feed(call, seed("call.ring"));
  ASSERT_EQ(ring.outcome, event_outcome::applied);
  EXPECT_EQ(call->status, ringing);
  EXPECT_FALSE(call->last_event_at);
  EXPECT_EQ(call->started_at, now);
  auto started = feed(call, seed("call.started", t1));
  EXPECT_EQ(started.outcome, event_outcome::applied);
  EXPECT_EQ(call->status, active);
  EXPECT_EQ(call->last_event_at, ms(t1));
  feed(call, seed("call.held"));
  EXPECT_EQ(call->status, held);
  EXPECT_EQ(call->last_event_at, ms(t1));
  auto ended = feed(call, seed("call.ended", t2));
  EXPECT_EQ(ended.outcome, event_outcome::applied);
  EXPECT_EQ(call->status, call_status::ended);
  // The ordering rule still holds between timed events.
  auto late = feed(call, seed("call.started", t1));
  EXPECT_EQ(call->status, call_status::ended);
  EXPECT_EQ(late.outcome, event_outcome::rejected_transition);
}

TEST(call_merge, a_refused_transition_names_the_status_the_call_stayed_in) {
  auto refused = cti::merge_call(stored_call(call_status::ended), seed("call.ring", t4), now);
  EXPECT_EQ(refused.outcome, event_outcome::rejected_transition);
  ASSERT_TRUE(refused.refused_from);
  EXPECT_EQ(*refused.refused_from, call_status::ended);
  // Refused by the ordering rule, not by the transitions: nothing named.
  auto older = cti::merge_call(stored_call(held), seed("call.started", t0), now);
  EXPECT_EQ(older.outcome, event_outcome::rejected_transition);
  EXPECT_FALSE(older.refused_from);
  auto fine = cti::merge_call(stored_call(held), seed("call.started", t4), now);
  EXPECT_FALSE(fine.refused_from);
}

TEST(call_merge, a_terminal_call_never_resurrects) {
  std::optional<call_record> call;
  for (const auto& file : call_a_files)
    feed(call, fixture(file));
  ASSERT_TRUE(call);
  ASSERT_EQ(call->status, ended);
  // Replays of the live fixtures, with fresh times, leave it ended.
  for (int i = 0; i < 4; ++i) {
    auto ev = fixture(call_a_files[static_cast<std::size_t>(i)]);
    ev.event_time = now;
    auto m = feed(call, ev);
    EXPECT_EQ(m.call.status, ended) << call_a_files[static_cast<std::size_t>(i)];
    EXPECT_EQ(m.outcome, event_outcome::rejected_transition) << call_a_files[static_cast<std::size_t>(i)];
  }
  for (const char* type : {"call.ring", "call.started", "call.held", "call.resumed", "call.missed",
                           "call.rejected"}) {
    auto ev = seed(type);
    ev.dialpad_call_id = call->dialpad_call_id;
    EXPECT_EQ(cti::merge_call(call, ev, now).call.status, ended) << type;
  }
}

TEST(call_merge, same_status_again_keeps_the_first_timestamp_and_is_unchanged) {
  std::optional<call_record> call;
  feed(call, seed("call.ring", t0));
  auto first = feed(call, seed("call.started", t1));
  EXPECT_EQ(first.outcome, event_outcome::applied);
  EXPECT_EQ(first.call.answered_at, ms(t1));
  auto again = feed(call, seed("call.started", t2));
  EXPECT_EQ(again.outcome, event_outcome::unchanged);
  EXPECT_FALSE(again.status_changed);
  EXPECT_EQ(again.call.answered_at, ms(t1));
  // The ordering mark moves to the later report of the same status.
  EXPECT_EQ(again.call.last_event_at, ms(t2));
  EXPECT_TRUE(again.mark_moved);
  auto ring_again = feed(call, seed("call.ring", t2));
  EXPECT_EQ(ring_again.outcome, event_outcome::rejected_transition); // active -> ringing
}

TEST(call_merge, repeating_every_fixture_is_unchanged) {
  std::optional<call_record> call;
  for (const auto& file : call_a_files) {
    auto ev = fixture(file);
    feed(call, ev);
    auto repeat = cti::merge_call(call, ev, now);
    EXPECT_EQ(repeat.call, *call) << file;
    EXPECT_NE(repeat.outcome, event_outcome::applied) << file;
  }
}

// --- Dialpad specifics -----------------------------------------------------------------------

TEST(call_merge, hangup_without_date_connected_is_missed_inbound_and_ended_outbound) {
  auto hangup = fixture("05-call-inbound-hangup.json");
  hangup.date_connected.reset();
  hangup.duration_seconds.reset();
  auto inbound = cti::merge_call(std::nullopt, hangup, now);
  EXPECT_EQ(inbound.call.status, missed);
  EXPECT_EQ(inbound.call.duration_seconds, 0);
  EXPECT_EQ(inbound.call.ended_at, ms(1769596385000));
  auto out = hangup;
  out.direction = "outbound";
  EXPECT_EQ(cti::merge_call(std::nullopt, out, now).call.status, ended);
  auto unknown = hangup;
  unknown.direction.reset();
  EXPECT_EQ(cti::merge_call(std::nullopt, unknown, now).call.status, ended);
}

TEST(call_merge, hangup_reads_direction_and_answer_from_the_stored_call) {
  auto hangup = fixture("05-call-inbound-hangup.json");
  hangup.date_connected.reset();
  hangup.direction.reset();
  call_record ringing_in = stored_call(ringing);
  ringing_in.dialpad_call_id = 5635304278851584;
  ringing_in.last_event_at.reset();
  EXPECT_EQ(cti::merge_call(ringing_in, hangup, now).call.status, missed);
  // The stored direction wins over the hangup's, as in the record.
  auto outbound_hangup = hangup;
  outbound_hangup.direction = "outbound";
  auto m = cti::merge_call(ringing_in, outbound_hangup, now);
  EXPECT_EQ(m.call.status, missed);
  EXPECT_EQ(m.call.direction, "inbound");
  ringing_in.direction = "outbound";
  EXPECT_EQ(cti::merge_call(ringing_in, hangup, now).call.status, ended);
  auto inbound_hangup = hangup;
  inbound_hangup.direction = "inbound";
  EXPECT_EQ(cti::merge_call(ringing_in, inbound_hangup, now).call.status, ended);
  call_record answered = stored_call(active);
  answered.last_event_at.reset();
  EXPECT_EQ(cti::merge_call(answered, hangup, now).call.status, ended);
}

TEST(call_merge, seed_call_ended_is_always_ended) {
  auto ev = seed("call.ended", t4);
  ev.direction = "inbound";
  auto m = cti::merge_call(stored_call(ringing), ev, now);
  EXPECT_EQ(m.call.status, ended);
  EXPECT_EQ(m.call.duration_seconds, 0); // never answered
  auto fixture14 = cti::merge_call(std::nullopt, fixture("14-seed-call.ended.json"), now);
  EXPECT_EQ(fixture14.call.status, ended);
  EXPECT_EQ(fixture14.call.ended_at, ms(1769596385000));
  EXPECT_EQ(fixture14.call.started_at, ms(1769596385000)); // created by its own end
  EXPECT_EQ(fixture14.call.duration_seconds, 179);
}

TEST(call_merge, seed_ring_then_ended_fixtures) {
  std::optional<call_record> call;
  auto ring = feed(call, fixture("13-seed-call.ring.json"));
  EXPECT_EQ(ring.call.status, ringing);
  EXPECT_EQ(ring.call.started_at, ms(1769596200000));
  EXPECT_EQ(ring.call.from_number, "+17025550143");
  EXPECT_EQ(ring.call.dialpad_user_id, 5171365938069504);
  auto end = feed(call, fixture("14-seed-call.ended.json"));
  EXPECT_EQ(end.outcome, event_outcome::applied);
  EXPECT_EQ(end.call.status, ended);
  EXPECT_EQ(end.call.ended_at, ms(1769596385000));
  EXPECT_EQ(end.call.duration_seconds, 179);
  EXPECT_FALSE(end.call.answered_at);
}

TEST(call_merge, preanswer_and_queued_only_create) {
  auto ring = fixture("01-call-inbound-ringing.json");
  for (const char* state : {"preanswer", "queued"}) {
    auto ev = ring;
    ev.dialpad_state = state;
    ev.event_time = ms(1769596300000); // newer than anything stored
    auto created = cti::merge_call(std::nullopt, ev, now);
    EXPECT_EQ(created.call.status, ringing) << state;
    EXPECT_TRUE(created.created) << state;
    call_record current = created.call;
    current.status = active;
    current.answered_at = ms(1769596206200);
    auto m = cti::merge_call(current, ev, now);
    EXPECT_EQ(m.call.status, active) << state;
    EXPECT_EQ(m.outcome, event_outcome::unchanged) << state;
  }
  // A seed event with the same state text is a plain ring.
  auto s = seed("call.ring", t4);
  s.dialpad_state = "preanswer";
  EXPECT_EQ(cti::merge_call(stored_call(active), s, now).outcome, event_outcome::rejected_transition);
}

TEST(call_merge, recording_after_hangup_is_applied_and_stays_ended) {
  std::optional<call_record> call;
  for (std::size_t i = 0; i < 5; ++i)
    feed(call, fixture(call_a_files[i]));
  ASSERT_TRUE(call);
  ASSERT_FALSE(call->recording_url);
  auto m = feed(call, fixture(call_a_files[5]));
  EXPECT_EQ(m.outcome, event_outcome::applied);
  EXPECT_FALSE(m.status_changed);
  EXPECT_EQ(m.call.status, ended);
  EXPECT_EQ(m.call.recording_url, recording_a);
}

TEST(call_merge, dialpad_times_come_from_the_date_fields) {
  std::optional<call_record> call;
  feed(call, fixture("01-call-inbound-ringing.json"));
  auto m = feed(call, fixture("02-call-inbound-connected.json"));
  EXPECT_EQ(m.call.answered_at, ms(1769596206200)); // date_connected, not event_timestamp
  EXPECT_EQ(m.call.last_event_at, ms(1769596206350));
}

TEST(call_merge, connected_without_hold_is_published_as_call_started) {
  auto m = cti::merge_call(stored_call(ringing), seed("call.started", t4), now);
  EXPECT_EQ(m.published_type, "call.started");
  auto refused = stored_call(held);
  refused.last_event_at = ms(t4 + 1);
  auto old = cti::merge_call(refused, seed("call.started", t4), now);
  EXPECT_EQ(old.call.status, held);
  EXPECT_EQ(old.published_type, "call.started");
}

// --- creation ---------------------------------------------------------------------------------

TEST(call_merge, a_post_call_event_gives_a_live_call_no_time_its_status_has_not_reached) {
  // A post-call event (Dialpad call_transcription, recap, …) carries the
  // call's final times; processed before the hangup it must not give a
  // ringing call an answer or a live call an end.
  auto post = fixture("05-call-inbound-hangup.json");
  post.event_type = "call.updated";
  post.dialpad_state = "call_transcription";
  ASSERT_TRUE(post.date_connected && post.date_ended && post.duration_seconds);
  call_record ringing_call = stored_call(ringing);
  ringing_call.dialpad_call_id = 5635304278851584;
  ringing_call.last_event_at.reset();
  auto on_ringing = cti::merge_call(ringing_call, post, now);
  EXPECT_EQ(on_ringing.call.status, ringing);
  EXPECT_FALSE(on_ringing.call.answered_at);
  EXPECT_FALSE(on_ringing.call.ended_at);
  EXPECT_FALSE(on_ringing.call.duration_seconds);
  call_record active_call = stored_call(active);
  active_call.dialpad_call_id = 5635304278851584;
  active_call.answered_at.reset();
  active_call.last_event_at.reset();
  auto on_active = cti::merge_call(active_call, post, now);
  EXPECT_EQ(on_active.call.status, active);
  EXPECT_EQ(on_active.call.answered_at, post.date_connected);
  EXPECT_FALSE(on_active.call.ended_at);
  EXPECT_FALSE(on_active.call.duration_seconds);
  // The hangup then brings the same times, whichever came first.
  auto hangup = fixture("05-call-inbound-hangup.json");
  auto ended_after = cti::merge_call(on_active.call, hangup, now);
  auto ended_before = cti::merge_call(cti::merge_call(active_call, hangup, now).call, post, now);
  EXPECT_EQ(ended_after.call.status, ended);
  EXPECT_EQ(ended_after.call.ended_at, post.date_ended);
  EXPECT_EQ(ended_after.call.duration_seconds, 179);
  EXPECT_EQ(ended_after.call, ended_before.call);
}

TEST(call_merge, events_without_status_create_ended_or_active_placeholders) {
  auto recording = cti::merge_call(std::nullopt, fixture("06-call-inbound-recording.json"), now);
  EXPECT_TRUE(recording.created);
  EXPECT_EQ(recording.call.status, ended);
  EXPECT_EQ(recording.call.recording_url, recording_a);
  EXPECT_EQ(recording.call.duration_seconds, 179);
  EXPECT_EQ(recording.call.ended_at, ms(1769596385000));
  EXPECT_FALSE(recording.call.last_event_at);
  auto updated = cti::merge_call(std::nullopt, seed("call.updated", t2), now);
  EXPECT_EQ(updated.call.status, active);
  EXPECT_EQ(updated.call.started_at, ms(t2));
  EXPECT_FALSE(updated.call.last_event_at);
  EXPECT_FALSE(updated.call.answered_at);
  // The placeholder does not block an older real status change.
  auto end = cti::merge_call(updated.call, seed("call.ended", t1), now);
  EXPECT_EQ(end.call.status, ended);
  EXPECT_EQ(end.call.last_event_at, ms(t1));
  EXPECT_EQ(end.call.ended_at, ms(t1));
  EXPECT_EQ(end.call.duration_seconds, 0);
}

TEST(call_merge, a_recording_placeholder_without_times_waits_for_the_real_end) {
  auto rec = seed("call.recording.completed", t3);
  rec.recording_url = "https://r/1";
  auto placeholder = cti::merge_call(std::nullopt, rec, now);
  EXPECT_EQ(placeholder.call.status, ended);
  EXPECT_EQ(placeholder.call.started_at, ms(t3));
  EXPECT_FALSE(placeholder.call.ended_at);
  EXPECT_FALSE(placeholder.call.duration_seconds);
  auto end = seed("call.ended", t2);
  end.duration_seconds = 12;
  auto m = cti::merge_call(placeholder.call, end, now);
  EXPECT_EQ(m.outcome, event_outcome::applied);
  EXPECT_FALSE(m.status_changed);
  EXPECT_EQ(m.call.ended_at, ms(t2));
  EXPECT_EQ(m.call.duration_seconds, 12);
}

TEST(call_merge, a_recording_placeholder_takes_the_first_real_end_and_its_times) {
  // A seed recording first: the call is `ended` with no end time. A missed
  // or rejected end was refused (ended → missed is no transition), and the
  // call stayed `ended` without ended_at or a duration for good.
  for (auto [type, want] : {std::pair{"call.missed", missed}, std::pair{"call.rejected", rejected}}) {
    std::optional<call_record> call;
    feed(call, seed("call.recording.completed", t3));
    auto m = feed(call, seed(type, t1));
    EXPECT_EQ(m.outcome, event_outcome::applied) << type;
    EXPECT_TRUE(m.status_changed) << type;
    EXPECT_FALSE(m.refused_from) << type;
    EXPECT_EQ(call->status, want) << type;
    EXPECT_EQ(call->ended_at, ms(t1)) << type;
    EXPECT_EQ(call->duration_seconds, 0) << type;
    EXPECT_EQ(call->last_event_at, ms(t1)) << type;
    // Once really over, it stays as it ended.
    EXPECT_EQ(feed(call, seed("call.ended", t2)).outcome, event_outcome::rejected_transition)
      << type;
    EXPECT_EQ(call->status, want) << type;
  }
  // A live status does not take it back: the call is known to be over.
  for (const char* type : {"call.ring", "call.started", "call.held", "voicemail.received"}) {
    std::optional<call_record> call;
    feed(call, seed("call.recording.completed", t3));
    feed(call, seed(type, t1));
    EXPECT_EQ(call->status, ended) << type;
    EXPECT_FALSE(call->ended_at) << type;
  }
  // Dialpad's recording names its end: that `ended` is the call's real end.
  std::optional<call_record> dialpad;
  feed(dialpad, fixture("06-call-inbound-recording.json"));
  ASSERT_TRUE(dialpad->ended_at);
  auto missed_late = seed("call.missed", t1);
  missed_late.seed = false;
  missed_late.dialpad_call_id = dialpad->dialpad_call_id;
  EXPECT_EQ(feed(dialpad, missed_late).outcome, event_outcome::rejected_transition);
  EXPECT_EQ(dialpad->status, ended);
}

TEST(call_merge, every_order_of_a_seed_missed_call_with_voicemail_and_recording_ends_missed) {
  auto recording = seed("call.recording.completed", t3);
  recording.recording_url = "https://r/vm";
  recording.duration_seconds = 30; // the recording's length, not the call's
  std::vector<event_data> events{seed("call.ring", t0), seed("call.missed", t1),
                                 seed("voicemail.received", t2), recording};
  auto in_order = fed_in_order(events);
  ASSERT_TRUE(in_order);
  ASSERT_EQ(in_order->status, missed);
  ASSERT_EQ(in_order->ended_at, ms(t1));
  auto permutations = for_every_order(events, [&](const auto& call, const std::string& label) {
    expect_same_outcome(call, *in_order, label);
  });
  EXPECT_EQ(permutations, 24);
}

TEST(call_merge, creation_times_fall_back_to_now) {
  auto m = cti::merge_call(std::nullopt, seed("call.started"), now);
  EXPECT_EQ(m.call.status, active);
  EXPECT_EQ(m.call.started_at, now);
  EXPECT_EQ(m.call.answered_at, now);
  EXPECT_FALSE(m.call.last_event_at); // the ordering clock moves with event times only
  EXPECT_EQ(m.call.dialpad_call_id, 42);
}

TEST(call_merge, voicemail_creates_a_voicemail_call) {
  auto m = cti::merge_call(std::nullopt, seed("voicemail.received", t1), now);
  EXPECT_EQ(m.call.status, voicemail);
  EXPECT_TRUE(m.call.has_voicemail);
  EXPECT_EQ(m.call.last_event_at, ms(t1));
}

// --- durations ---------------------------------------------------------------------------------

TEST(call_merge, computed_duration_rounds_half_up_and_the_event_duration_wins) {
  call_record c = stored_call(active);
  c.answered_at = ms(t1);
  auto half = cti::merge_call(c, seed("call.ended", t1 + 10500), now);
  EXPECT_EQ(half.call.duration_seconds, 11);
  auto below = cti::merge_call(c, seed("call.ended", t1 + 10499), now);
  EXPECT_EQ(below.call.duration_seconds, 10);
  auto given = seed("call.ended", t1 + 10500);
  given.duration_seconds = 3;
  EXPECT_EQ(cti::merge_call(c, given, now).call.duration_seconds, 3);
  // A clock that runs backwards gives 0, not a negative length.
  auto skewed = stored_call(active);
  skewed.last_event_at.reset();
  skewed.answered_at = ms(t4);
  EXPECT_EQ(cti::merge_call(skewed, seed("call.ended", t2), now).call.duration_seconds, 0);
}

TEST(call_merge, duration_is_never_overwritten) {
  auto current = stored_call(ended); // duration 20
  auto ev = seed("call.updated", t4);
  ev.duration_seconds = 99;
  auto m = cti::merge_call(current, ev, now);
  EXPECT_EQ(m.call.duration_seconds, 20);
  EXPECT_EQ(m.outcome, event_outcome::unchanged);
}

// --- non-call events ------------------------------------------------------------------------------

TEST(call_merge, non_call_types_are_ignored_and_change_nothing) {
  auto current = stored_call(active);
  for (const char* type : {"sms.received", "sms.sent", "unknown", "call.transferred", ""}) {
    auto m = cti::merge_call(current, seed(type, t4), now);
    EXPECT_EQ(m.outcome, event_outcome::ignored) << type;
    EXPECT_EQ(m.call, current) << type;
    EXPECT_FALSE(m.created) << type;
    auto none = cti::merge_call(std::nullopt, seed(type, t4), now);
    EXPECT_EQ(none.outcome, event_outcome::ignored) << type;
    EXPECT_FALSE(none.created) << type;
  }
  auto sms = cti::merge_call(std::nullopt, fixture("12-sms-inbound.json"), now);
  EXPECT_EQ(sms.outcome, event_outcome::ignored);
}

TEST(call_merge, a_call_event_without_call_id_cannot_create_a_call) {
  auto ev = seed("call.ring", t1);
  ev.dialpad_call_id.reset();
  auto m = cti::merge_call(std::nullopt, ev, now);
  EXPECT_EQ(m.outcome, event_outcome::ignored);
  EXPECT_FALSE(m.created);
  // With a stored call (found by other means) it still applies.
  auto applied = cti::merge_call(stored_call(ringing), seed("call.started", t4), now);
  EXPECT_EQ(applied.outcome, event_outcome::applied);
}

TEST(call_merge, outcome_names) {
  EXPECT_EQ(cti::to_string(event_outcome::applied), "applied");
  EXPECT_EQ(cti::to_string(event_outcome::unchanged), "unchanged");
  EXPECT_EQ(cti::to_string(event_outcome::rejected_transition), "rejected_transition");
  EXPECT_EQ(cti::to_string(event_outcome::ignored), "ignored");
}

// --- order independence -------------------------------------------------------------------------

TEST(call_merge, every_order_of_fixtures_01_to_06_ends_the_same_call) {
  std::vector<event_data> events;
  for (const auto& file : call_a_files)
    events.push_back(fixture(file));
  auto in_order = fed_in_order(events);
  ASSERT_TRUE(in_order);
  auto permutations = for_every_order(events, [&](const auto& call, const std::string& label) {
    expect_same_outcome(call, *in_order, label);
    ASSERT_TRUE(call) << label;
    EXPECT_EQ(call->status, ended) << label;
    EXPECT_EQ(call->from_number, in_order->from_number) << label;
    EXPECT_EQ(call->to_number, in_order->to_number) << label;
    EXPECT_EQ(call->direction, in_order->direction) << label;
    EXPECT_EQ(call->dialpad_user_id, in_order->dialpad_user_id) << label;
    EXPECT_EQ(call->started_at, in_order->started_at) << label;
  });
  EXPECT_EQ(permutations, 720);
}

TEST(call_merge, every_order_of_a_live_call_ends_in_its_latest_status) {
  // Fixtures 01-04: ringing, connected, hold, connected again (no hangup yet).
  // Whatever the delivery order, the call is where the latest event put it:
  // active, answered at Dialpad's date_connected (a late hold never rewinds).
  std::vector<event_data> events;
  for (std::size_t i = 0; i < 4; ++i)
    events.push_back(fixture(call_a_files[i]));
  auto in_order = fed_in_order(events);
  ASSERT_TRUE(in_order);
  ASSERT_EQ(in_order->status, active);
  auto permutations = for_every_order(events, [&](const auto& call, const std::string& label) {
    ASSERT_TRUE(call) << label;
    EXPECT_EQ(call->status, active) << label;
    EXPECT_EQ(call->answered_at, in_order->answered_at) << label;
    EXPECT_EQ(call->started_at, in_order->started_at) << label;
  });
  EXPECT_EQ(permutations, 24);
}

TEST(call_merge, the_same_status_reported_later_makes_an_earlier_change_older) {
  // started@t1, resumed@t3 (active again: unchanged, but t3 is the mark), held@t2.
  std::optional<call_record> call;
  feed(call, seed("call.ring", t0));
  feed(call, seed("call.started", t1));
  auto again = feed(call, seed("call.resumed", t3));
  EXPECT_EQ(again.outcome, event_outcome::unchanged);
  EXPECT_TRUE(again.mark_moved);
  EXPECT_EQ(again.call.answered_at, ms(t1)); // the first timestamp is kept
  auto late = feed(call, seed("call.held", t2));
  EXPECT_EQ(late.outcome, event_outcome::rejected_transition);
  EXPECT_TRUE(late.refused_as_older);
  EXPECT_EQ(call->status, active);
  // Mirror: held@t1, held@t3 again, a late resume@t2 leaves it held.
  std::optional<call_record> held;
  feed(held, seed("call.ring", t0));
  feed(held, seed("call.held", t1));
  feed(held, seed("call.held", t3));
  EXPECT_EQ(feed(held, seed("call.resumed", t2)).outcome, event_outcome::rejected_transition);
  EXPECT_EQ(held->status, call_status::held);
  // An earlier report of the same status does not move the mark back.
  auto earlier = feed(held, seed("call.held", t0));
  EXPECT_EQ(earlier.outcome, event_outcome::unchanged);
  EXPECT_FALSE(earlier.mark_moved);
  EXPECT_EQ(held->last_event_at, ms(t3));
}

TEST(call_merge, a_refused_status_change_takes_none_of_its_times) {
  // Dialpad's missed call (fixture 08), then a contradictory `connected` with
  // a date_connected: refused (missed is terminal), and neither answered_at
  // nor any other status time comes from it; the data that is not the
  // status still does.
  std::optional<call_record> call;
  feed(call, fixture("08-call-inbound-missed.json"));
  ASSERT_TRUE(call);
  ASSERT_EQ(call->status, missed);
  auto before = *call;
  auto connected = fixture("08-call-inbound-missed.json");
  connected.event_type = "call.started";
  connected.dialpad_state = "connected";
  connected.date_connected = ms(1769603430000);
  connected.date_ended = ms(1769603440000);
  connected.date_started = ms(1769603300000);
  connected.duration_seconds = 99;
  connected.event_time = ms(1769603430100);
  auto m = feed(call, connected);
  EXPECT_EQ(m.outcome, event_outcome::rejected_transition);
  EXPECT_EQ(m.call, before);
  // The same event with a recording URL: applied for the URL only.
  connected.recording_url = "https://r/late";
  auto with_url = cti::merge_call(before, connected, now);
  EXPECT_EQ(with_url.outcome, event_outcome::applied);
  EXPECT_EQ(with_url.call.recording_url, "https://r/late");
  EXPECT_EQ(with_url.call.answered_at, before.answered_at);
  EXPECT_EQ(with_url.call.ended_at, before.ended_at);
  EXPECT_EQ(with_url.call.started_at, before.started_at);
  EXPECT_EQ(with_url.call.duration_seconds, before.duration_seconds);
  EXPECT_EQ(with_url.call.status, missed);
  // A voicemail call refuses a connected the same way.
  std::optional<call_record> vm;
  feed(vm, fixture("09-call-inbound-voicemail.json"));
  ASSERT_TRUE(vm);
  auto vm_before = *vm;
  connected.recording_url.reset();
  connected.dialpad_call_id = vm->dialpad_call_id;
  EXPECT_EQ(feed(vm, connected).outcome, event_outcome::rejected_transition);
  EXPECT_EQ(vm->answered_at, vm_before.answered_at);
}

namespace {

/// The normalized event of fixture `name` with its JSON fields changed by `edit`.
event_data edited_fixture(const std::string& name, const std::function<void(json&)>& edit) {
  std::ifstream in(fixtures_dir() / name);
  std::stringstream text;
  text << in.rdbuf();
  auto j = json::parse(text.str(), nullptr, false);
  if (!j.is_object()) {
    ADD_FAILURE() << "fixture missing or not a JSON object: " << name;
    return {};
  }
  edit(j);
  return cti::extract_event(j);
}

} // namespace

TEST(call_merge, every_order_of_a_missed_call_with_post_call_events_ends_missed) {
  // Dialpad's states of an unanswered call with a voicemail, plus post-call
  // states (call.updated) that follow the hangup. Delivered first, a
  // post-call state creates the call with the placeholder `active`; it kept
  // the call `active` for good (active → missed is no transition, and the
  // ringing before it was refused the same way), and /api/calls/active
  // listed it. Every order must end as the delivery in order does.
  auto at = [](int64_t ts, const char* state) {
    return [=](json& j) {
      j["state"] = state;
      j["event_timestamp"] = ts;
    };
  };
  std::vector<event_data> events{
    edited_fixture("08-call-inbound-missed.json", at(1769603400420, "ringing")),
    fixture("08-call-inbound-missed.json"),
    fixture("09-call-inbound-voicemail.json"),
    edited_fixture("08-call-inbound-missed.json", at(1769603460000, "csat")),
    edited_fixture("08-call-inbound-missed.json", at(1769603470000, "call_transcription")),
  };
  ASSERT_EQ(events[3].event_type, "call.updated");
  ASSERT_EQ(events[4].event_type, "call.updated");
  auto in_order = fed_in_order(events);
  ASSERT_TRUE(in_order);
  ASSERT_EQ(in_order->status, missed);
  ASSERT_TRUE(in_order->ended_at);
  auto permutations = for_every_order(events, [&](const auto& call, const std::string& label) {
    expect_same_outcome(call, *in_order, label);
    ASSERT_TRUE(call) << label;
    EXPECT_EQ(call->started_at, in_order->started_at) << label;
  });
  EXPECT_EQ(permutations, 120);
}

TEST(call_merge, the_placeholder_active_takes_the_first_real_status_whatever_it_is) {
  // Seed format: call.updated first, then the call's own events.
  for (const char* type : {"call.ring", "call.missed", "call.rejected", "call.held",
                           "call.ended", "voicemail.received"}) {
    auto placeholder = cti::merge_call(std::nullopt, seed("call.updated", t1), now).call;
    auto m = cti::merge_call(placeholder, seed(type, t0), now);
    EXPECT_EQ(m.outcome, event_outcome::applied) << type;
    EXPECT_TRUE(m.status_changed) << type;
    EXPECT_FALSE(m.refused_from) << type;
    EXPECT_EQ(m.call.last_event_at, ms(t0)) << type;
  }
  std::optional<call_record> call;
  feed(call, seed("call.updated", t2));
  EXPECT_EQ(feed(call, seed("call.ring", t0)).outcome, event_outcome::applied);
  EXPECT_EQ(call->status, ringing);
  EXPECT_EQ(feed(call, seed("call.missed", t1)).outcome, event_outcome::applied);
  EXPECT_EQ(call->status, missed);
  EXPECT_EQ(call->ended_at, ms(t1));
  // A real active (answered) is no placeholder: active → missed stays refused.
  std::optional<call_record> answered;
  feed(answered, seed("call.started", t0));
  auto refused = feed(answered, seed("call.missed", t1));
  EXPECT_EQ(refused.outcome, event_outcome::rejected_transition);
  EXPECT_EQ(answered->status, active);
  // So is a placeholder whose post-call event carried Dialpad's answer time:
  // the call was answered.
  auto connected = seed("call.updated", t1);
  connected.date_connected = ms(t0);
  std::optional<call_record> post;
  feed(post, connected);
  ASSERT_EQ(post->answered_at, ms(t0));
  EXPECT_EQ(feed(post, seed("call.missed", t2)).outcome, event_outcome::rejected_transition);
  EXPECT_EQ(post->status, active);
}
