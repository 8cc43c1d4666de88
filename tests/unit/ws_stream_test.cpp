#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "actors/ws_stream.hpp"

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
