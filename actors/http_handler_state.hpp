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

/// `POST /webhooks/dialpad` and `POST /webhooks/dialpad/{app_id}`.
void handle_webhook(handler_ptr self, api_request&& req);

} // namespace cti
