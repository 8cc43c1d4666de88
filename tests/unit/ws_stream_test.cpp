#include <memory>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "actors/ws_stream.hpp"
#include "db/event_handlers.hpp"
#include "db/processor.hpp"

namespace {

using cti::glob_match;

TEST(WsStream, GlobsMatchAnyCharactersWithStar) {
  EXPECT_TRUE(glob_match("call.*", "call.ring"));
  EXPECT_TRUE(glob_match("call.*", "call.recording.completed")); // dots included
  EXPECT_TRUE(glob_match("*", "sms.sent"));
  EXPECT_TRUE(glob_match("*.received", "voicemail.received"));
  EXPECT_TRUE(glob_match("c*l.r*g", "call.ring"));
  EXPECT_TRUE(glob_match("call.ring", "call.ring"));
  EXPECT_FALSE(glob_match("call.ring", "call.rings"));
  EXPECT_FALSE(glob_match("call.*", "sms.received"));
  EXPECT_FALSE(glob_match("", "call.ring"));
  EXPECT_TRUE(glob_match("**", ""));
}

cti::applied_event call_event(const char* crm) {
  cti::applied_event ev;
  ev.app_id = "app";
  ev.seq = 42;
  ev.event_type = "call.ring";
  ev.occurred_at_us = 1769594400000000; // 2026-01-28T10:00:00Z
  nlohmann::json call = {{"id", "c1"}, {"dialpad_call_id", 123}, {"direction", "inbound"},
                         {"from_number", "+1"}, {"to_number", "+2"}, {"status", "ringing"},
                         {"dialpad_user_id", 9}, {"crm_user_id", crm ? nlohmann::json(crm) : nlohmann::json()}};
  ev.call_json = call.dump();
  return ev;
}

TEST(WsStream, EventFrameCarriesTheContractFields) {
  auto f = cti::event_frame(call_event("user_abc"));
  auto j = nlohmann::json::parse(f.text);
  EXPECT_EQ(j["type"], "event");
  EXPECT_EQ(j["seq"], 42);
  EXPECT_EQ(j["event"], "call.ring");
  EXPECT_EQ(j["call_id"], 123);
  EXPECT_EQ(j["direction"], "inbound");
  EXPECT_EQ(j["from_number"], "+1");
  EXPECT_EQ(j["to_number"], "+2");
  EXPECT_EQ(j["status"], "ringing");
  EXPECT_EQ(j["user_id"], 9);
  EXPECT_EQ(j["target_crm_user"], "user_abc");
  EXPECT_EQ(j["timestamp"], "2026-01-28T10:00:00.000Z");
  EXPECT_EQ(j["call"]["id"], "c1");
  // Untargeted: the field is absent, not null.
  auto g = nlohmann::json::parse(cti::event_frame(call_event(nullptr)).text);
  EXPECT_FALSE(g.contains("target_crm_user"));
}

// A frame whose record is gone (an erased call, a deleted voicemail, a
// purged message, when a replay rebuilds it) still has the record's field,
// as null.
TEST(WsStream, AnEventWhoseRecordIsGoneCarriesItsFieldAsNull) {
  cti::applied_event ev;
  ev.seq = 7;
  ev.occurred_at_us = 1769594400000000;
  for (const char* type : {"call.ring", "call.recording.completed"}) {
    ev.event_type = type;
    auto j = nlohmann::json::parse(cti::event_frame(ev).text);
    ASSERT_TRUE(j.contains("call")) << type;
    EXPECT_TRUE(j["call"].is_null()) << type;
    EXPECT_TRUE(j["call_id"].is_null()) << type;
    EXPECT_FALSE(j.contains("voicemail") || j.contains("message")) << j.dump();
  }
  ev.event_type = "voicemail.received";
  auto vm = nlohmann::json::parse(cti::event_frame(ev).text);
  EXPECT_TRUE(vm.contains("call") && vm["call"].is_null()) << vm.dump();
  EXPECT_TRUE(vm.contains("voicemail") && vm["voicemail"].is_null()) << vm.dump();
  EXPECT_FALSE(vm.contains("message")) << vm.dump();
  ev.event_type = "sms.received";
  auto sms = nlohmann::json::parse(cti::event_frame(ev).text);
  EXPECT_TRUE(sms.contains("message") && sms["message"].is_null()) << sms.dump();
  EXPECT_FALSE(sms.contains("call") || sms.contains("voicemail")) << sms.dump();
  // A call event with its call has no voicemail or message field.
  auto live = nlohmann::json::parse(cti::event_frame(call_event(nullptr)).text);
  EXPECT_TRUE(live["call"].is_object());
  EXPECT_FALSE(live.contains("voicemail") || live.contains("message")) << live.dump();
}

TEST(WsStream, FiltersByEventGlobsAndCrmUser) {
  auto alice = cti::event_frame(call_event("alice"));
  auto nobody = cti::event_frame(call_event(nullptr));
  cti::ws_filter all;
  EXPECT_TRUE(cti::frame_matches(alice, all));
  cti::ws_filter for_bob;
  for_bob.crm_user_id = "bob";
  EXPECT_FALSE(cti::frame_matches(alice, for_bob));
  EXPECT_TRUE(cti::frame_matches(nobody, for_bob)); // targets nobody: everyone sees it
  cti::ws_filter sms;
  sms.events = {"sms.*", "voicemail.received"};
  EXPECT_FALSE(cti::frame_matches(alice, sms));
  sms.events.push_back("call.r*");
  EXPECT_TRUE(cti::frame_matches(alice, sms));
}

TEST(WsStream, WelcomeAndTruncationFrames) {
  auto w = nlohmann::json::parse(cti::welcome_frame("a1", "node-1", 17));
  EXPECT_EQ(w, nlohmann::json({{"type", "welcome"}, {"app_id", "a1"}, {"node", "node-1"}, {"seq", 17}}));
  auto t = nlohmann::json::parse(cti::replay_truncated_frame(18));
  EXPECT_EQ(t, nlohmann::json({{"type", "replay_truncated"}, {"from_seq", 18}}));
}

} // namespace

namespace {

using namespace std::chrono_literals;

/// A queue of `frames` frames and `bytes` bytes, its current write `for_`
/// old (not writing when negative).
cti::send_queue_state queue(std::size_t frames, std::size_t bytes,
                            std::chrono::milliseconds for_) {
  return {frames, bytes, for_ >= 0ms, for_ >= 0ms ? for_ : 0ms};
}

TEST(WsStream, SendQueuePolicyTellsSlowFromBursty) {
  cti::send_queue_limits l; // 1,024 frames, 8 MiB, burst 2,024, stall 250 ms
  // Full queue, the socket stalled for longer than allowed: too slow.
  EXPECT_TRUE(cti::too_slow(queue(1024, 1000, 300ms), l));
  // Full queue but the current write just started (a burst to a reader).
  EXPECT_FALSE(cti::too_slow(queue(1024, 1000, 1ms), l));
  EXPECT_FALSE(cti::too_slow(queue(2000, 1000, 1ms), l));
  // Not full: never, however long the write.
  EXPECT_FALSE(cti::too_slow(queue(1023, 1000, 10s), l));
  // Four times the bound plus the burst allowance: always.
  EXPECT_FALSE(cti::too_slow(queue(6119, 1000, 0ms), l));
  EXPECT_TRUE(cti::too_slow(queue(6120, 1000, 0ms), l));
  EXPECT_TRUE(cti::too_slow(queue(6120, 1000, -1ms), l));
  // A tiny bound: a batch of events or a replay to a reader is no reason.
  l.frames = 4;
  EXPECT_FALSE(cti::too_slow(queue(1050, 1000, 1ms), l));
  EXPECT_TRUE(cti::too_slow(queue(4, 1000, 300ms), l));
}

TEST(WsStream, SendQueueBytesBoundLikeItsFrames) {
  cti::send_queue_limits l;
  l.bytes = 1 << 20;
  // A few large frames reach the byte bound long before the frame bound.
  EXPECT_TRUE(cti::at_soft_bound(queue(10, 1 << 20, 0ms), l));
  EXPECT_FALSE(cti::at_soft_bound(queue(10, (1 << 20) - 1, 0ms), l));
  EXPECT_TRUE(cti::too_slow(queue(10, 1 << 20, 300ms), l));
  EXPECT_FALSE(cti::too_slow(queue(10, (1 << 20) - 1, 300ms), l));
  // At the byte bound, a write the socket takes at once is a reader's.
  EXPECT_FALSE(cti::too_slow(queue(10, 3 << 20, 1ms), l));
  // Bytes alone never close a reader (a replay of large frames is queued
  // at once): only the frame count's hard bound does.
  EXPECT_FALSE(cti::too_slow(queue(10, std::size_t{64} << 20, 0ms), l));
  EXPECT_FALSE(cti::too_slow(queue(1000, std::size_t{1} << 30, 1ms), l));
  EXPECT_TRUE(cti::too_slow(queue(1000, std::size_t{1} << 30, 300ms), l));
}

TEST(WsStream, ReplaySeamHasNoGapAndNoDuplicate) {
  using frames = std::vector<std::pair<int64_t, std::string>>;
  // Read covered 3..5 (upto 5); live 5 and 6 arrived during the read.
  auto out = cti::replay_seam(frames{{3, "e3"}, {4, "e4"}, {5, "e5"}},
                              frames{{5, "live5"}, {6, "e6"}, {7, "e7"}}, 5);
  EXPECT_EQ(out, (std::vector<std::string>{"e3", "e4", "e5", "e6", "e7"}));
  // Nothing held; nothing read.
  EXPECT_EQ(cti::replay_seam(frames{{2, "a"}}, frames{}, 2), (std::vector<std::string>{"a"}));
  // Shared frames (as the tenant sends them) go through alike.
  using shared = std::vector<std::pair<int64_t, std::shared_ptr<const std::string>>>;
  auto f2 = std::make_shared<const std::string>("f2");
  auto f3 = std::make_shared<const std::string>("f3");
  auto both = cti::replay_seam(shared{{2, f2}}, shared{{2, f2}, {3, f3}}, 2);
  ASSERT_EQ(both.size(), 2u);
  EXPECT_EQ(both[0], f2);
  EXPECT_EQ(both[1], f3);
  EXPECT_EQ(cti::replay_seam(frames{}, frames{{9, "x"}}, 8), (std::vector<std::string>{"x"}));
  // A row past the read's end (cannot happen, but never sent twice).
  EXPECT_EQ(cti::replay_seam(frames{{4, "r4"}, {6, "r6"}}, frames{{6, "l6"}}, 5),
            (std::vector<std::string>{"r4", "l6"}));
}

} // namespace

// -- the snapshot kept with an applied event (db/processor) ------------------------

TEST(published_snapshot, gives_back_what_was_pushed_records_as_written) {
  cti::db::handler_result r;
  r.outcome = cti::event_outcome::applied;
  r.published_type = "call.resumed";
  r.occurred_at_us = 1769596295200000;
  r.call_json = R"({"id":"x","status":"active","from_number":"+1 \"q\"","z":1,"a":2})";
  auto text = cti::db::published_snapshot(r);
  cti::applied_event ev;
  ev.seq = 4;
  ev.event_type = "call.started";
  ASSERT_TRUE(cti::db::read_published_snapshot(text, ev)) << text;
  EXPECT_EQ(ev.seq, 4);
  EXPECT_EQ(ev.event_type, "call.resumed");
  EXPECT_EQ(ev.occurred_at_us, 1769596295200000);
  EXPECT_EQ(ev.call_json, r.call_json); // key order kept
  EXPECT_EQ(ev.voicemail_json, "");
  EXPECT_EQ(ev.message_json, "");
  // The frame built from it is the live one.
  cti::applied_event live;
  live.seq = 4;
  live.event_type = r.published_type;
  live.occurred_at_us = r.occurred_at_us;
  live.call_json = r.call_json;
  EXPECT_EQ(cti::event_frame(ev).text, cti::event_frame(live).text);
}

TEST(published_snapshot, refuses_what_is_not_one_and_leaves_the_event_alone) {
  for (const char* bad : {"", "null", "[]", "{}", R"({"t":"","at":1})", R"({"t":"call.ring"})",
                          R"({"t":"call.ring","at":"x"})", R"({"t":7,"at":1})", "{"}) {
    cti::applied_event ev;
    ev.event_type = "call.ring";
    ev.call_json = "{}";
    EXPECT_FALSE(cti::db::read_published_snapshot(bad, ev)) << bad;
    EXPECT_EQ(ev.event_type, "call.ring");
    EXPECT_EQ(ev.call_json, "{}");
  }
  // A name that needs escaping survives the trip.
  cti::db::handler_result r;
  r.published_type = "sms.\"odd\"";
  r.message_json = R"({"id":1})";
  cti::applied_event ev;
  ASSERT_TRUE(cti::db::read_published_snapshot(cti::db::published_snapshot(r), ev));
  EXPECT_EQ(ev.event_type, "sms.\"odd\"");
  EXPECT_EQ(ev.message_json, R"({"id":1})");
  EXPECT_EQ(ev.call_json, "");
}
