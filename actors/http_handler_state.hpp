#pragma once

// Internal to the HTTP handler's files (http_handler.cpp and the endpoint
// groups it dispatches to): the handler's state and shared helpers.

#include <memory>

#include "actors/messages.hpp"
#include "actors/node_context.hpp"

namespace cti {

/// One connection's view of the node.
struct http_handler_state {
  static inline const char* name = "http_handler";
  std::shared_ptr<const node_context> ctx;
  std::weak_ptr<session_sink> sink;
};

/// The handler's self pointer, as endpoint functions receive it.
using handler_ptr = http_handler_actor::stateful_pointer<http_handler_state>;

/// Sends `resp` to the client (dropped when the connection is gone).
void reply(handler_ptr self, api_response resp);

/// Answers `err` (a failed request to another actor) with its mapped status.
void reply_error(handler_ptr self, uint64_t serial, const caf::error& err);

/// True when `req` carries the internal bearer; otherwise answers 401.
bool check_internal(handler_ptr self, const api_request& req);

/// `POST /webhooks/dialpad` and `POST /webhooks/dialpad/{app_id}`.
void handle_webhook(handler_ptr self, api_request&& req);

/// `GET /internal/apps/{app_id}/events`.
void handle_app_events(handler_ptr self, const api_request& req);

/// `GET /internal/events/{event_id}`.
void handle_event(handler_ptr self, const api_request& req);

/// `POST /internal/events/{event_id}/replay`.
void handle_event_replay(handler_ptr self, const api_request& req);

} // namespace cti
