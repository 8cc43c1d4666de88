#pragma once

#include <cstdint>
#include <memory>

#include <caf/fwd.hpp>

#include "actors/messages.hpp"

namespace cti {

struct node_context;

/// The serial of the message a failed handler leaves its session: the
/// handler ended on an exception (a bug), so the request it was serving, if
/// any, gets `500 internal` and the connection is closed (net/http_session).
constexpr uint64_t handler_failed_serial = ~uint64_t{0};

/// The same for the webhook fast path (handle_webhook_in_session) failing
/// on an exception: the request in flight gets `500 internal` and the
/// connection is closed, but its handler actor, if any, lives on.
constexpr uint64_t fast_path_failed_serial = ~uint64_t{0} - 1;

/// Spawns the actor behind one HTTP connection. It answers each request
/// through `sink` and dies with the connection (see `stop_http_handler`).
/// If it fails instead, it says so through `sink` (handler_failed_serial).
http_handler_actor spawn_http_handler(caf::actor_system& sys,
                                      std::shared_ptr<const node_context> ctx,
                                      std::weak_ptr<session_sink> sink);

/// The webhook fast path (ARCHITECTURE.md, "Flow of one inbound call"):
/// called by an HTTP session on its own thread for a webhook whose app is
/// named in the path and cached on this node, it verifies and checks the
/// webhook there and hands it straight to the ingester, which answers
/// through `sink` after the commit; no handler actor in between, two
/// hand-overs between threads fewer per webhook. Bodies past 64 KiB are
/// left to the handler actor. True: taken (`request`
/// was moved from; the answer comes through `sink`); false: untouched,
/// for the handler actor. Thread-safe; CPU work only, never waits.
bool handle_webhook_in_session(const node_context& ctx, api_request& request,
                               const std::weak_ptr<session_sink>& sink);

/// Tests only (CTI_TEST_HANDLER_FAIL_REQUEST_ID): a request with this
/// X-Request-Id throws where its handler runs (the handler actor, or the
/// webhook fast path), as a bug would. Empty: none.
const std::string& failing_request_id();

/// Hands `req` to `handler` (thread-safe, returns at once).
void submit_request(const http_handler_actor& handler, api_request req);

/// Tells `handler` its connection is gone.
void stop_http_handler(const http_handler_actor& handler);

} // namespace cti
