#include "actors/messages.hpp"

#include <caf/all.hpp>
#include <gtest/gtest.h>

namespace {

template <class T>
T round_trip(const T& in) {
  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  auto copy = in;
  EXPECT_FALSE(sink(copy));
  T out;
  caf::binary_deserializer source{nullptr, buf};
  EXPECT_FALSE(source(out));
  return out;
}

} // namespace

TEST(messages, api_request_round_trips_every_field) {
  cti::api_request r;
  r.serial = 42;
  r.request_id = "rid-1";
  r.method = "PATCH";
  r.path = "/api/calls/7";
  r.route = cti::endpoint::metrics;
  r.path_params = {{"id", "7"}};
  r.query = {{"limit", "5"}, {"cursor", "abc"}};
  r.headers = {{"x-app-api-key", "raw_x"}};
  r.body = std::string{"{\"a\":1}\0tail", 12};
  r.remote_address = "127.0.0.1";
  auto back = round_trip(r);
  EXPECT_EQ(back.serial, 42u);
  EXPECT_EQ(back.request_id, "rid-1");
  EXPECT_EQ(back.method, "PATCH");
  EXPECT_EQ(back.path, "/api/calls/7");
  EXPECT_EQ(back.route, cti::endpoint::metrics);
  ASSERT_EQ(back.query.size(), 2u);
  EXPECT_EQ(back.query[1].value, "abc");
  EXPECT_EQ(*back.path_param("id"), "7");
  EXPECT_EQ(*back.header("x-app-api-key"), "raw_x");
  EXPECT_EQ(back.body, r.body);
  EXPECT_EQ(back.remote_address, "127.0.0.1");
}

TEST(messages, api_response_round_trips_every_field) {
  auto resp = cti::api_response::failure(9, cti::errc::conflict, "taken");
  resp.headers = {{"Retry-After", "5"}};
  resp.app_id = "app-1";
  auto back = round_trip(resp);
  EXPECT_EQ(back.serial, 9u);
  EXPECT_EQ(back.error, cti::errc::conflict);
  EXPECT_EQ(back.error_message, "taken");
  EXPECT_EQ(back.app_id, "app-1");
  ASSERT_EQ(back.headers.size(), 1u);
  EXPECT_EQ(back.headers[0].value, "5");
}

TEST(messages, pool_stats_round_trip) {
  cti::pool_stats s{1, 2, 3, 4};
  auto back = round_trip(s);
  EXPECT_EQ(back.idle, 1u);
  EXPECT_EQ(back.active, 2u);
  EXPECT_EQ(back.waiting, 3u);
  EXPECT_EQ(back.total, 4u);
}

TEST(messages, errors_carry_our_category_and_code) {
  auto err = cti::make_error(cti::errc::db_unavailable, "down");
  EXPECT_TRUE(cti::is_errc(err, cti::errc::db_unavailable));
  EXPECT_FALSE(cti::is_errc(err, cti::errc::conflict));
  EXPECT_EQ(cti::errc_of(err), cti::errc::db_unavailable);
  EXPECT_EQ(cti::errc_of(caf::make_error(caf::sec::request_timeout)), cti::errc::timeout);
  EXPECT_EQ(cti::errc_of(caf::make_error(caf::sec::unexpected_message)), cti::errc::internal);
  EXPECT_EQ(cti::errc_of(caf::error{}), cti::errc::none);
  EXPECT_EQ(cti::to_string(cti::errc::db_unavailable), "unavailable");
}

TEST(messages, the_error_category_renders_with_context) {
  caf::actor_system_config cfg;
  cti::add_message_types(cfg);
  cfg.set("logger.console-verbosity", caf::atom("quiet"));
  caf::actor_system sys{cfg};
  auto text = sys.render(cti::make_error(cti::errc::not_found, "call 7"));
  EXPECT_NE(text.find("not_found"), std::string::npos) << text;
  EXPECT_NE(text.find("call 7"), std::string::npos) << text;
}

// The webhook fast path's answer (actors/messages.hpp ingest_reply): the
// callback runs once however many copies call it, and a reply dropped
// unanswered (an ingester that is gone or failed on the message) still
// answers, `db_unavailable`, so the webhook is not left to its timeout.
TEST(messages, an_ingest_reply_answers_once_and_a_dropped_one_answers_unavailable) {
  std::vector<std::string> calls;
  auto record = [&calls](cti::ingest_result* res, const caf::error* err) {
    calls.push_back(res != nullptr ? "stored " + res->event_id
                                   : std::string{"error "} + std::string{cti::to_string(cti::errc_of(*err))});
  };
  {
    cti::ingest_reply reply{record};
    auto copy = reply;
    cti::ingest_result res;
    res.event_id = "e1";
    copy(&res, nullptr);
    reply(&res, nullptr);
    auto err = cti::make_error(cti::errc::internal);
    reply(nullptr, &err);
  }
  ASSERT_EQ(calls, std::vector<std::string>{"stored e1"});
  calls.clear();
  {
    cti::ingest_reply reply{record};
    auto copy = reply; // the last copy to go answers
  }
  EXPECT_EQ(calls, std::vector<std::string>{"error " + std::string{cti::to_string(cti::errc::db_unavailable)}});
  calls.clear();
  { cti::ingest_reply empty; } // nothing to call
  EXPECT_TRUE(calls.empty());
}
