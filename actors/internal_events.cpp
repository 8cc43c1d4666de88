// The event queue's admin endpoints (internal bearer):
//
//   GET  /internal/apps/{app_id}/events?state=&limit=&cursor=  → list, newest first
//   GET  /internal/events/{event_id}                           → one event + payload
//   POST /internal/events/{event_id}/replay                    → 202, re-queued
//
// An id that is not a UUID cannot name anything: 404, like a missing one.

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "actors/http_handler_state.hpp"
#include "db/events_repo.hpp"
#include "domain/pagination.hpp"
#include "domain/uuid.hpp"

namespace cti {

namespace {

/// How long an admin query may wait for the database.
constexpr auto db_timeout = std::chrono::seconds{10};

/// Asks the pool for a JSON body (`xs` is the job) and answers it with 200,
/// or the job's error.
template <class... Ts>
void answer_json(handler_ptr self, uint64_t serial, Ts&&... xs) {
  self->request(self->state.ctx->pool, db_timeout, std::forward<Ts>(xs)...)
    .then([self, serial](std::string& body) {
            reply(self, api_response::json(serial, 200, std::move(body)));
          },
          [self, serial](caf::error& err) { reply_error(self, serial, err); });
}

} // namespace

void handle_app_events(handler_ptr self, const api_request& req) {
  if (!check_internal(self, req))
    return;
  auto app = uuid_param(self, req, "app_id", "app");
  if (!app)
    return;
  event_query q;
  q.app_id = *app;
  if (const auto* state = req.query_param("state")) {
    if (!db::is_event_state(*state)) {
      reply(self, api_response::failure(req.serial, errc::bad_request,
                                        "state must be one of pending, failed, processed, dead"));
      return;
    }
    q.state = *state;
  }
  page_request page;
  std::string error;
  if (!parse_page(req.query_param("limit"), req.query_param("cursor"), "events:" + q.app_id, page,
                  error)) {
    reply(self, api_response::failure(req.serial, errc::bad_request, std::move(error)));
    return;
  }
  q.limit = page.limit;
  if (page.after) {
    q.has_after = true;
    q.after_us = page.after->time_us;
    q.after_id = page.after->id;
    if (!is_uuid(q.after_id)) {
      reply(self, api_response::failure(req.serial, errc::bad_request,
                                        "cursor is not a cursor this server issued"));
      return;
    }
  }
  answer_json(self, req.serial, events_atom_v, std::move(q));
}

void handle_event(handler_ptr self, const api_request& req) {
  if (!check_internal(self, req))
    return;
  auto id = uuid_param(self, req, "event_id", "event");
  if (!id)
    return;
  answer_json(self, req.serial, event_atom_v, std::move(*id));
}

void handle_event_replay(handler_ptr self, const api_request& req) {
  if (!check_internal(self, req))
    return;
  auto id = uuid_param(self, req, "event_id", "event");
  if (!id)
    return;
  auto serial = req.serial;
  auto event_id = *id;
  self->request(self->state.ctx->pool, db_timeout, replay_atom_v, std::move(*id), req.request_id)
    .then(
      [self, serial, event_id](std::string& app_id) {
        nlohmann::json body = {{"event_id", event_id}, {"state", "pending"}};
        auto resp = api_response::json(serial, 202, body.dump());
        resp.app_id = std::move(app_id);
        reply(self, std::move(resp));
      },
      [self, serial](caf::error& err) { reply_error(self, serial, err); });
}

} // namespace cti
