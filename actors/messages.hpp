#pragma once

// The vocabulary of the system: every atom, message struct, error code and
// typed actor interface, and the one CAF type-ID block. Include only forward
// headers here: every layer includes this file.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/fwd.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/type_id.hpp>

namespace cti {

// -- errors -------------------------------------------------------------------

/// Every failure an actor can report. `net/error_response.cpp` maps each to
/// an HTTP status and the contract's `{"error","message"}` body.
enum class errc : uint8_t {
  /// Not an error.
  none = 0,
  /// The database cannot be reached (503 with Retry-After).
  db_unavailable,
  /// A uniqueness clash (409).
  conflict,
  /// The resource does not exist or belongs to another tenant (404).
  not_found,
  /// A parameter or body field is invalid (400).
  bad_request,
  /// The body is not valid JSON or too deeply nested (400).
  invalid_json,
  /// Missing or wrong credentials (401).
  unauthorized,
  /// Valid credentials of a disabled tenant (403).
  forbidden,
  /// The body exceeds its limit (413).
  payload_too_large,
  /// The content type is not accepted (415).
  unsupported_media_type,
  /// Too many requests (429).
  rate_limited,
  /// A request to another actor did not finish in time (503).
  timeout,
  /// An upstream service (Dialpad) failed (502).
  upstream_failed,
  /// A bug or an unexpected failure (500).
  internal,
};

/// The snake_case name of `x`.
std::string to_string(errc x);

/// True when `err` carries `code` of our category.
bool is_errc(const caf::error& err, errc code);

/// An error of our category ("cti") with code `x` (CAF 0.17's make_error
/// customization point, found through ADL).
caf::error make_error(errc x);

/// An error of our category with a human-readable context (no secrets).
caf::error make_error(errc x, std::string context);

/// The human text carried by `err` (the context given to make_error), or a
/// generic text for its code. Never a secret: contexts never hold one.
std::string message_of(const caf::error& err);

/// The errc inside `err`, `errc::internal` for foreign categories (e.g. a
/// request timeout becomes `errc::timeout`).
errc errc_of(const caf::error& err);

// -- HTTP requests and responses as plain data (no Beast types) ---------------

/// One header or parameter: lowercased name for headers.
struct name_value {
  std::string name;
  std::string value;
};

/// The endpoints the router knows; the handler dispatches on them.
enum class endpoint : uint16_t {
  root,
  health,
  metrics,
  webhook,      ///< POST /webhooks/dialpad (tenant from headers or org id)
  webhook_app,  ///< POST /webhooks/dialpad/{app_id}
  app_events,   ///< GET /internal/apps/{app_id}/events
  event,        ///< GET /internal/events/{event_id}
  event_replay, ///< POST /internal/events/{event_id}/replay
  apps,         ///< GET|POST /internal/apps
  app,          ///< GET|PATCH /internal/apps/{app_id}
  app_dialpad,  ///< GET|PUT|DELETE /internal/apps/{app_id}/dialpad
  app_dialpad_sync, ///< POST /internal/apps/{app_id}/dialpad/sync
  app_erase,        ///< POST /internal/apps/{app_id}/erase
  app_retention,    ///< GET|PUT /internal/apps/{app_id}/retention
  audit,            ///< GET /internal/audit
  retention_run,    ///< POST /internal/retention/run (runs the retention job now)
  api_key,      ///< POST /internal/apps/{app_id}/api-key
  api_key_revoke, ///< POST /internal/apps/{app_id}/api-key/revoke
  api_key_status, ///< GET /internal/apps/{app_id}/api-key/status
  api_key_audit,  ///< GET /internal/apps/{app_id}/api-key/audit
  user_map,       ///< POST /internal/apps/{app_id}/users/map
  user_batch_map, ///< POST /internal/apps/{app_id}/users/batch-map
  user_mappings,  ///< GET /internal/apps/{app_id}/users/mappings
  user_mapping_dialpad, ///< GET …/users/mappings/dialpad/{dialpad_user_id}
  user_mapping_crm,     ///< GET …/users/mappings/crm/{crm_user_id}
  user_mapping,         ///< DELETE …/users/mappings/{id}
  internal_voicemails,  ///< GET /internal/apps/{app_id}/voicemails
  internal_voicemail,   ///< GET|DELETE /internal/apps/{app_id}/voicemails/{id}
  calls,          ///< GET /api/calls
  calls_active,   ///< GET /api/calls/active
  calls_export,   ///< GET /api/calls/export
  call,           ///< GET|PATCH /api/calls/{id}
  voicemails,     ///< GET /api/voicemails
  voicemail,      ///< GET|PATCH /api/voicemails/{id}
  messages,       ///< GET /api/messages
  screen_pop,     ///< POST /api/screen-pop
  ws,             ///< GET /ws (WebSocket upgrade)
  ws_stats,       ///< GET /internal/monitoring/websocket/stats
  cluster,        ///< GET /internal/cluster
  oauth_connect,  ///< GET /auth/dialpad/connect (also /authorize)
  oauth_callback, ///< GET /auth/dialpad/callback
  console,        ///< GET /console, GET /console/{asset} (the operator console)
  console_apps,   ///< GET /internal/console/apps (every app with its state)
  console_ticket, ///< POST /internal/console/stream-ticket
  console_stream, ///< GET /internal/console/stream (WebSocket view of an app)
};

/// The endpoint's name, as the `route` label of the metrics.
const char* endpoint_name(endpoint e);

/// How many endpoints there are (their numbers are 0..endpoint_count-1).
inline constexpr int endpoint_count = static_cast<int>(endpoint::console_stream) + 1;

/// A complete HTTP request, handed from an asio session to its actor.
struct api_request {
  uint64_t serial = 0;                   ///< Per-connection request number.
  std::string request_id;                ///< X-Request-Id (echoed or generated).
  std::string method;                    ///< `GET`, `POST`, ...
  std::string path;                      ///< Percent-decoded path, no query.
  endpoint route = endpoint::root;       ///< What the router matched.
  std::vector<name_value> path_params;   ///< `{app_id}` and friends.
  std::vector<name_value> query;         ///< Decoded query parameters, in order.
  std::vector<name_value> headers;       ///< Lowercased names.
  std::string body;                      ///< Raw body bytes.
  std::string remote_address;            ///< Peer IP.

  /// The first header named `name` (lowercase), or null.
  const std::string* header(std::string_view name) const;
  /// The first non-empty query parameter named `name`, or null (a
  /// parameter given empty counts as absent).
  const std::string* query_param(std::string_view name) const;
  /// The path parameter named `name`, or null.
  const std::string* path_param(std::string_view name) const;
};

/// The answer to one `api_request`.
struct api_response {
  uint64_t serial = 0;                   ///< Copied from the request.
  uint16_t status = 200;                 ///< Ignored when `error` is set.
  std::string content_type = "application/json; charset=utf-8";
  std::string body;
  std::vector<name_value> headers;       ///< Extra headers.
  errc error = errc::none;               ///< When set, net/ renders the error body.
  std::string error_message;             ///< Human text for `error` (no secrets).
  std::string app_id;                    ///< Tenant, for the access log.

  /// A JSON response.
  static api_response json(uint64_t serial, uint16_t status, std::string body);
  /// An error response rendered by `net/error_response`.
  static api_response failure(uint64_t serial, errc code, std::string message);
};

/// A body chunk of a streamed (chunked) response. The session writes it and
/// then calls `on_written` (on an asio thread), so the producer sends the
/// next chunk only when the previous one left: memory stays flat.
struct stream_chunk {
  std::string data;
  bool last = false; ///< Ends the response after `data`.
  /// The request whose response this continues: a chunk for any other
  /// request of the connection (a producer that outlived its request's
  /// timeout) is refused, never written into a later response.
  uint64_t serial = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, name_value& x) {
  return f(caf::meta::type_name("name_value"), x.name, x.value);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, api_request& x) {
  return f(caf::meta::type_name("api_request"), x.serial, x.request_id, x.method,
           x.path, x.route, x.path_params, x.query, x.headers, x.body,
           x.remote_address);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, api_response& x) {
  return f(caf::meta::type_name("api_response"), x.serial, x.status,
           x.content_type, x.body, x.headers, x.error, x.error_message, x.app_id);
}

/// The asio side of a connection, as its actor sees it. Implemented by the
/// sessions in `net/`; handed to the actor as a spawn argument (weak_ptr),
/// so `actors/` never includes a `net/` header. Both calls are thread-safe
/// and return at once.
class session_sink {
public:
  virtual ~session_sink() = default;
  /// Queues `resp` for writing on the connection's strand.
  virtual void deliver(api_response resp) = 0;
  /// Closes the connection (WebSocket close code, or 0 for plain HTTP).
  virtual void close(uint16_t code) = 0;
  /// Starts a chunked response with `head` (its body is ignored); the
  /// chunks follow through `write_chunk`.
  virtual void begin_stream(api_response head) = 0;
  /// Queues one chunk; `on_written(ok)` runs once it was written (ok) or the
  /// connection failed (not ok). Never called again after `last`.
  virtual void write_chunk(stream_chunk chunk, std::function<void(bool)> on_written) = 0;
};

/// The asio side of a WebSocket connection, as its actor sees it
/// (implemented by net/ws_session.cpp). Thread-safe, returns at once.
class ws_sink {
public:
  virtual ~ws_sink() = default;
  /// Queues a text frame; a client whose queue is full is closed with 1013.
  /// The frame may be shared with other connections (never modified).
  virtual void send_text(std::shared_ptr<const std::string> frame) = 0;
  /// Closes the connection with `code` and `reason`.
  virtual void close(uint16_t code, std::string reason) = 0;
};

/// What a WebSocket subscriber asked for (`/ws` query parameters).
struct ws_filter {
  std::string crm_user_id;          ///< Empty: every event.
  std::vector<std::string> events;  ///< Globs (`*` matches anything); empty: all.
  bool has_since = false;           ///< Replay asked for:
  int64_t since = 0;                ///<   events with seq > since.
  /// When the key was checked (steady clock, ns): a session checked before
  /// its app's last close (revoked key, disabled app) is closed on arrival.
  int64_t authorized_at = 0;
  /// The operator console's view (internal secret, not the app's key): not
  /// closed when the app's key is revoked or the app disabled.
  bool internal = false;
  /// The non-secret id of the key the session opened with (app sessions):
  /// the tenant closes the session once the app's key is another one.
  std::string key_id;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ws_filter& x) {
  return f(caf::meta::type_name("ws_filter"), x.crm_user_id, x.events, x.has_since, x.since,
           x.authorized_at, x.internal, x.key_id);
}

// -- database pool ------------------------------------------------------------

/// Load figures of the DB pool.
struct pool_stats {
  uint32_t idle = 0;     ///< Connected workers with nothing to do.
  uint32_t active = 0;   ///< Workers running a job.
  uint32_t waiting = 0;  ///< Jobs queued for a free worker.
  uint32_t total = 0;    ///< Workers alive (connected or not).
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, pool_stats& x) {
  return f(caf::meta::type_name("pool_stats"), x.idle, x.active, x.waiting, x.total);
}

// -- tenants --------------------------------------------------------------------

/// What the webhook path needs to know about an app (cached by the tenant
/// registry). `found == false` means no such app.
struct app_info {
  std::string id;                  ///< UUID.
  bool found = false;
  bool is_active = false;
  std::string webhook_secret;      ///< The app's own secret; empty: use DIALPAD_WEBHOOK_SECRET.
  bool allow_unsigned = false;     ///< Dialpad connection's allow_unsigned_webhooks.
  bool secret_unreadable = false;  ///< The sealed secret could not be opened (wrong key).
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, app_info& x) {
  return f(caf::meta::type_name("app_info"), x.id, x.found, x.is_active, x.webhook_secret,
           x.allow_unsigned, x.secret_unreadable);
}

/// The stored API key a presented key's non-secret id points at.
struct key_record {
  bool found = false;
  std::string app_id;
  bool is_active = false;
  std::string hash;                ///< bcrypt hash (not the key).
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, key_record& x) {
  return f(caf::meta::type_name("key_record"), x.found, x.app_id, x.is_active, x.hash);
}

/// The outcome of authenticating an API key.
struct app_auth {
  bool valid = false;              ///< The key belongs to an app (else 401).
  std::string app_id;
  bool is_active = false;          ///< Else 403.
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, app_auth& x) {
  return f(caf::meta::type_name("app_auth"), x.valid, x.app_id, x.is_active);
}



// -- ingest -----------------------------------------------------------------------

/// One verified webhook event, ready to be stored.
struct ingest_item {
  std::string app_id;              ///< Tenant (UUID).
  std::string dialpad_event_id;    ///< Identity, unique per app.
  std::string event_type;          ///< e.g. `call.ring`.
  std::string payload;             ///< The full event as compact JSON text.
  std::string format;              ///< `dialpad_jwt` | `dialpad_json` | `seed`.
  int64_t received_at_us = 0;      ///< Arrival time, epoch microseconds.
  /// What the event is about (`event_serial`: app|c|call or app|m|message),
  /// so that events of one call are applied in arrival order; may be empty.
  std::string serial;
};

/// The stored row for one `ingest_item`.
struct ingest_result {
  std::string event_id;            ///< webhook_events.id (UUID).
  bool duplicate = false;          ///< The row existed before this delivery.
  std::string error;               ///< Set when the database refused this item's data.
  bool app_gone = false;           ///< The app was deleted: nothing stored.
};

/// How the ingester answers an event handed to it by an HTTP session
/// itself (no actor waits for the answer; see `handle_webhook_in_session`):
/// the callback runs once, on the ingester's thread, with the stored row
/// or, when nothing was acknowledged, the error. Dropped unanswered (an
/// ingester that is gone, one that failed on the message), it runs with
/// `db_unavailable` where the last copy goes, as a request would be
/// answered with an error. It must return at once (it queues the HTTP
/// answer on the connection's own thread).
class ingest_reply {
public:
  using callback = std::function<void(ingest_result*, const caf::error*)>;

  ingest_reply() = default;
  explicit ingest_reply(callback fn);

  /// Runs the callback unless it ran already (copies share that).
  void operator()(ingest_result* res, const caf::error* err) const;

private:
  struct once;
  std::shared_ptr<once> once_;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ingest_item& x) {
  return f(caf::meta::type_name("ingest_item"), x.app_id, x.dialpad_event_id, x.event_type,
           x.payload, x.format, x.received_at_us, x.serial);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ingest_result& x) {
  return f(caf::meta::type_name("ingest_result"), x.event_id, x.duplicate, x.error,
           x.app_gone);
}

// -- event processing -------------------------------------------------------

/// What one poll may do.
struct process_settings {
  uint32_t batch_size = 50;    ///< EVENT_BATCH_SIZE
  uint32_t max_attempts = 8;   ///< EVENT_MAX_ATTEMPTS
  /// After a failed batch, how many of its events are retried one by one
  /// (each in a savepoint of its own); the rest wait for the next round.
  /// 0: all of them.
  uint32_t alone_max = 0;
  /// Longest wait for a lock inside a round (ms): past it the round stops
  /// and is rolled back with no attempt counted (a lock held elsewhere is
  /// not the events' fault), and it is tried again later.
  uint32_t lock_timeout_ms = 5000;
  /// Payload bytes one round loads at most (the first event always, whatever
  /// its size): events locked past it stay pending for the next round.
  uint64_t max_bytes = 16 * 1024 * 1024;
  /// Where the claim starts (a position the previous round handed back), so
  /// a round does not walk again over the index entries of events already
  /// processed; none: from the oldest pending event.
  bool has_after = false;
  int64_t after_us = 0;        ///< received_at, epoch µs,
  std::string after_id;        ///< then id.
  /// A claim from the oldest (no position) takes only events received at
  /// least this long ago (ms; 0: any). The pollers' scheduled rounds, which
  /// look for events the others passed over, leave the fresh ones to the
  /// round that was woken for them, so they are applied in arrival order.
  uint32_t min_age_ms = 0;
};

/// An event that changed something, with its stream number, as published
/// after the commit.
struct applied_event {
  std::string app_id;
  int64_t seq = 0;                 ///< The app's stream number.
  std::string event_id;            ///< webhook_events.id.
  std::string event_type;          ///< Published name (e.g. `call.resumed`).
  int64_t occurred_at_us = 0;      ///< Event time (or processing time), epoch µs.
  std::string call_json;           ///< The call object, when the event concerns a call.
  std::string voicemail_json;      ///< The voicemail object, for voicemail events.
  std::string message_json;        ///< The message object, for SMS events.
};

/// An event whose handler failed in a round, for the log after its commit.
struct event_failure {
  std::string event_id;
  std::string app_id;
  int32_t attempts = 0; ///< Including the one that failed.
  bool dead = false;    ///< Given up for good (EVENT_MAX_ATTEMPTS).
  std::string error;    ///< As stored in last_error.
};

/// The outcome of one claim-apply-commit round.
struct process_report {
  uint32_t claimed = 0;            ///< Events taken from the queue.
  uint32_t deferred = 0;           ///< Of those, left for later (another poller held their
                                   ///< call, or they followed a failed batch past alone_max).
  uint32_t erasing = 0;            ///< Of the deferred, those whose app an erase holds
                                   ///< (they wait for its commit, which asks for a rescan).
  uint64_t payload_bytes = 0;      ///< The claimed events' stored payloads, as text.
  /// Due events the claim locked but left unread (past max_bytes): more is
  /// waiting, as after a full round.
  uint32_t left_over = 0;
  uint32_t failed = 0;             ///< Handler failures (retried later or dead).
  uint32_t dead = 0;               ///< Of those, given up for good.
  /// Where the next round may start (nothing pending before it, except
  /// retries not yet due); none: start from the oldest.
  bool has_next = false;
  int64_t next_us = 0;
  std::string next_id;
  std::vector<applied_event> applied; ///< In seq order per app.
  /// Arrival times (epoch µs) of the events this round processed, for the
  /// received → processed latency histogram.
  std::vector<int64_t> received_us;
  std::vector<event_failure> failures; ///< The first few of this round's failed events.
};

/// The queue's backlog, across apps.
struct queue_stats {
  uint64_t pending = 0;  ///< Waiting or retrying.
  uint64_t dead = 0;     ///< Given up after EVENT_MAX_ATTEMPTS.
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, queue_stats& x) {
  return f(caf::meta::type_name("queue_stats"), x.pending, x.dead);
}

/// `GET /internal/apps/{app_id}/events`, validated.
struct event_query {
  std::string app_id;       ///< UUID.
  std::string state;        ///< pending | failed | processed | dead, or empty: all.
  int32_t limit = 50;       ///< 1..500.
  bool has_after = false;   ///< A cursor was given:
  int64_t after_us = 0;     ///<   the last row's received_at (epoch µs)
  std::string after_id;     ///<   and id.
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, event_query& x) {
  return f(caf::meta::type_name("event_query"), x.app_id, x.state, x.limit, x.has_after,
           x.after_us, x.after_id);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, process_settings& x) {
  return f(caf::meta::type_name("process_settings"), x.batch_size, x.max_attempts, x.alone_max,
           x.lock_timeout_ms, x.max_bytes, x.has_after, x.after_us, x.after_id, x.min_age_ms);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, applied_event& x) {
  return f(caf::meta::type_name("applied_event"), x.app_id, x.seq, x.event_id, x.event_type,
           x.occurred_at_us, x.call_json, x.voicemail_json, x.message_json);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, event_failure& x) {
  return f(caf::meta::type_name("event_failure"), x.event_id, x.app_id, x.attempts, x.dead,
           x.error);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, process_report& x) {
  return f(caf::meta::type_name("process_report"), x.claimed, x.deferred, x.erasing, x.payload_bytes,
           x.left_over, x.failed, x.dead,
           x.has_next, x.next_us, x.next_id, x.applied, x.received_us, x.failures);
}

// -- outbound HTTP (Dialpad) ----------------------------------------------------

/// One request to an outside HTTP server (net/http_client).
struct outbound_request {
  std::string method = "GET";
  std::string url;                  ///< Absolute http(s) URL.
  std::vector<name_value> headers;  ///< Extra headers (Authorization, Content-Type ...).
  std::string body;
  int32_t timeout_ms = 10000;       ///< For the whole exchange, connect to last byte.
};

/// Its answer. `error` is empty when an HTTP answer was read (whatever its
/// status); else one of `timeout`, `resolve`, `connect`, `tls`, `io`,
/// `refused_url` (not http(s), or plain http to a non-loopback host).
struct outbound_response {
  uint16_t status = 0;
  std::vector<name_value> headers;  ///< Lowercased names.
  std::string body;
  std::string error;

  /// The first header named `name` (lowercase), or null.
  const std::string* header(std::string_view name) const;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, outbound_request& x) {
  return f(caf::meta::type_name("outbound_request"), x.method, x.url, x.headers, x.body,
           x.timeout_ms);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, outbound_response& x) {
  return f(caf::meta::type_name("outbound_response"), x.status, x.headers, x.body, x.error);
}

/// What the REST API asks of the database (see db/api_repo.hpp).
enum class query_kind : uint8_t {
  app_create, app_list, app_get, app_patch,
  dialpad_put, dialpad_get, dialpad_delete,
  key_set, key_revoke, key_status, key_audit,
  map_one, map_batch, mappings_list, mapping_by_dialpad, mappings_by_crm, mapping_delete,
  calls_list, call_get, call_patch,
  voicemails_list, voicemail_get, voicemail_patch, voicemail_delete,
  messages_list, app_last_seq,
  stream_events, ///< args {after, upto, limit}: the app's applied events by seq
  // Dialpad OAuth (values sealed by the caller travel as hex).
  oauth_state_create,   ///< args {state_hash, environment, code_verifier}
  oauth_state_consume,  ///< target: state_hash → {app_id, environment, code_verifier}
  dialpad_connect,      ///< args {environment, dialpad_org_id, access_sealed, refresh_sealed, expires_at_us, scopes}
  dialpad_tokens,       ///< → {status, environment, access_sealed, expires_at_us, ...}
  dialpad_refresh_claim,  ///< args {node, lease_ms, margin_ms} → {claimed, environment, refresh_sealed}
  dialpad_refresh_store,  ///< args {node, access_sealed, refresh_sealed?, expires_at_us, scopes?}
  dialpad_refresh_failed, ///< args {node, permanent, retry_ms, error}
  dialpad_connected_apps, ///< → {"apps": [app ids of connected accounts]}
  dialpad_sync_start,     ///< args {job_id, since_us} → 202 {job_id}; 409 when not connected or running
  dialpad_sync_progress,  ///< args {job_id, imported}: adds to sync_calls_imported
  dialpad_sync_finish,    ///< args {job_id, state, error?}
  // Data management.
  erase,            ///< args {phone_number (normalized)} → counts
  retention_get,    ///< → the app's retention settings
  retention_put,    ///< args {calls_days?, voicemails_archive_days?, messages_days?, webhook_events_days?}
  retention_run,    ///< args {batch}: applies every app's retention (own transactions) → counts
  audit_list,       ///< app_id: filter (may be empty); page args
  // Cluster membership (actors/cluster.cpp).
  cluster_heartbeat, ///< args {node, host, port, protocol, started_at_us}: upsert, → {"nodes": [...]}
  cluster_leave,     ///< target: node name; deletes its row (graceful stop)
  // Operator console.
  console_apps,      ///< → {"data": [every app with key, Dialpad and queue state]}
};

/// One REST request, validated by the handler: the app it acts for, the
/// resource named in the path, and the validated arguments as a JSON object.
struct db_query {
  query_kind kind = query_kind::app_get;
  std::string app_id;       ///< The tenant (UUID), when the query has one.
  std::string target;       ///< The resource id from the path, if any.
  std::string args;         ///< Validated arguments (JSON object text).
  std::string request_id;   ///< For audit rows.
};

/// The database's answer: a status and a JSON body, plus what was applied
/// to the app's stream (published after the commit).
struct db_answer {
  uint16_t status = 200;
  std::string body;
  std::vector<applied_event> applied;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, db_query& x) {
  return f(caf::meta::type_name("db_query"), x.kind, x.app_id, x.target, x.args, x.request_id);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, db_answer& x) {
  return f(caf::meta::type_name("db_answer"), x.status, x.body, x.applied);
}

} // namespace cti

// Local only (a callback): never sent to another node.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cti::ingest_reply)

// -- type IDs and atoms -------------------------------------------------------

CAF_BEGIN_TYPE_ID_BLOCK(cti, caf::first_custom_type_id)

  CAF_ADD_TYPE_ID(cti, (cti::name_value))
  CAF_ADD_TYPE_ID(cti, (cti::api_request))
  CAF_ADD_TYPE_ID(cti, (cti::api_response))
  CAF_ADD_TYPE_ID(cti, (cti::pool_stats))
  CAF_ADD_TYPE_ID(cti, (cti::errc))
  CAF_ADD_TYPE_ID(cti, (cti::endpoint))
  CAF_ADD_TYPE_ID(cti, (cti::app_info))
  CAF_ADD_TYPE_ID(cti, (cti::ingest_item))
  CAF_ADD_TYPE_ID(cti, (cti::ingest_result))
  CAF_ADD_TYPE_ID(cti, (std::vector<cti::ingest_item>))
  CAF_ADD_TYPE_ID(cti, (std::vector<cti::ingest_result>))
  CAF_ADD_TYPE_ID(cti, (cti::process_settings))
  CAF_ADD_TYPE_ID(cti, (cti::applied_event))
  CAF_ADD_TYPE_ID(cti, (cti::process_report))
  CAF_ADD_TYPE_ID(cti, (std::vector<cti::applied_event>))
  CAF_ADD_TYPE_ID(cti, (cti::event_query))
  CAF_ADD_TYPE_ID(cti, (cti::queue_stats))
  CAF_ADD_TYPE_ID(cti, (cti::key_record))
  CAF_ADD_TYPE_ID(cti, (cti::app_auth))
  CAF_ADD_TYPE_ID(cti, (cti::query_kind))
  CAF_ADD_TYPE_ID(cti, (cti::db_query))
  CAF_ADD_TYPE_ID(cti, (cti::db_answer))
  CAF_ADD_TYPE_ID(cti, (std::vector<int64_t>))
  CAF_ADD_TYPE_ID(cti, (cti::ws_filter))
  CAF_ADD_TYPE_ID(cti, (cti::outbound_request))
  CAF_ADD_TYPE_ID(cti, (cti::outbound_response))

  CAF_ADD_ATOM(cti, cti, handle_atom, "handle")
  CAF_ADD_ATOM(cti, cti, health_atom, "health")
  CAF_ADD_ATOM(cti, cti, stats_atom, "stats")
  CAF_ADD_ATOM(cti, cti, reconnect_atom, "reconnect")
  CAF_ADD_ATOM(cti, cti, expire_atom, "expire")
  CAF_ADD_ATOM(cti, cti, ingest_atom, "ingest")
  CAF_ADD_ATOM(cti, cti, flush_atom, "flush")
  CAF_ADD_ATOM(cti, cti, app_atom, "app")
  CAF_ADD_ATOM(cti, cti, org_atom, "org")
  CAF_ADD_ATOM(cti, cti, invalidate_atom, "invalidate")
  CAF_ADD_ATOM(cti, cti, process_atom, "process")
  CAF_ADD_ATOM(cti, cti, wake_atom, "wake")
  CAF_ADD_ATOM(cti, cti, poll_atom, "poll")
  CAF_ADD_ATOM(cti, cti, events_atom, "events")
  CAF_ADD_ATOM(cti, cti, event_atom, "event")
  CAF_ADD_ATOM(cti, cti, replay_atom, "replay")
  CAF_ADD_ATOM(cti, cti, queue_atom, "queue")
  CAF_ADD_ATOM(cti, cti, rescan_atom, "rescan")
  CAF_ADD_ATOM(cti, cti, query_atom, "query")
  CAF_ADD_ATOM(cti, cti, key_atom, "key")
  CAF_ADD_ATOM(cti, cti, auth_atom, "auth")
  CAF_ADD_ATOM(cti, cti, hash_atom, "hash")
  CAF_ADD_ATOM(cti, cti, verify_atom, "verify")
  CAF_ADD_ATOM(cti, cti, crm_atom, "crm")
  CAF_ADD_ATOM(cti, cti, mappings_atom, "mappings")
  CAF_ADD_ATOM(cti, cti, subscribe_atom, "subscribe")
  CAF_ADD_ATOM(cti, cti, unsubscribe_atom, "unsub")
  CAF_ADD_ATOM(cti, cti, frame_atom, "frame")
  CAF_ADD_ATOM(cti, cti, close_atom, "close")
  CAF_ADD_ATOM(cti, cti, gap_atom, "gap")
  CAF_ADD_ATOM(cti, cti, http_call_atom, "httpcall")
  CAF_ADD_ATOM(cti, cti, notify_atom, "notify")
  CAF_ADD_ATOM(cti, cti, token_atom, "token")
  CAF_ADD_ATOM(cti, cti, start_atom, "start")
  CAF_ADD_ATOM(cti, cti, stop_atom, "stop")
  CAF_ADD_ATOM(cti, cti, refresh_atom, "refresh")
  CAF_ADD_ATOM(cti, cti, screen_pop_atom, "screenpop")
  CAF_ADD_ATOM(cti, cti, sync_atom, "sync")
  CAF_ADD_ATOM(cti, cti, retention_atom, "retention")
  CAF_ADD_ATOM(cti, cti, store_atom, "store")
  CAF_ADD_ATOM(cti, cti, hello_atom, "hello")
  CAF_ADD_ATOM(cti, cti, cluster_atom, "cluster")
  CAF_ADD_ATOM(cti, cti, shrink_atom, "shrink")

CAF_END_TYPE_ID_BLOCK(cti)

namespace cti {

// -- typed actor interfaces ---------------------------------------------------

/// The jobs any holder of a DB handle may ask for. Each answers
/// `errc::db_unavailable` while Postgres is unreachable. (CAF 0.17's
/// `extend` needs complete types, so the interfaces below list the job
/// signatures through this macro instead.)
#define CTI_DB_JOBS                                                            \
  /* Runs `SELECT 1` on a connection; answers true. */                         \
  caf::replies_to<health_atom>::with<bool>,                                    \
  /* Stores a batch of events in one transaction; answers one result per */    \
  /* item, in order, only after the commit (and has woken a poller). */        \
  caf::replies_to<ingest_atom, std::vector<ingest_item>>::with<                \
    std::vector<ingest_result>>,                                               \
  /* Looks an app up by id; answers found = false when there is none. */       \
  caf::replies_to<app_atom, std::string>::with<app_info>,                      \
  /* Looks an app up by the Dialpad org id registered on its connection. */    \
  caf::replies_to<org_atom, int64_t>::with<app_info>,                          \
  /* Claims a batch of due events, applies them, marks them and assigns */     \
  /* seq numbers in one transaction; answers what was applied (after */        \
  /* the commit). */                                                           \
  caf::replies_to<process_atom, process_settings>::with<process_report>,       \
  /* One page of an app's events as the contract's list JSON; not_found */    \
  /* when the app does not exist. */                                           \
  caf::replies_to<events_atom, event_query>::with<std::string>,                \
  /* One event with its payload, as JSON; not_found when none. */              \
  caf::replies_to<event_atom, std::string>::with<std::string>,                 \
  /* Re-queues one event; answers its app id; not_found when none. */          \
  /* (event id, request id for the audit row) */                               \
  caf::replies_to<replay_atom, std::string, std::string>::with<std::string>,   \
  /* Counts pending and dead events. */                                        \
  caf::replies_to<queue_atom>::with<queue_stats>,                              \
  /* The stored key with this non-secret key id (found = false: none). */     \
  caf::replies_to<key_atom, std::string>::with<key_record>,                    \
  /* One REST API query or change (db/api_repo.hpp); errors: not_found, */    \
  /* conflict, bad_request. */                                                 \
  caf::replies_to<query_atom, db_query>::with<db_answer>

/// The jobs, as a handle: what the pool offers its users.
using db_actor = caf::typed_actor<CTI_DB_JOBS>;

/// One detached actor owning one libpqxx connection.
using db_worker_actor = caf::typed_actor<
  CTI_DB_JOBS,
  /// Internal: try to (re)connect now.
  caf::reacts_to<reconnect_atom>,
  /// Internal: tell the other nodes of a cluster that events were stored.
  caf::reacts_to<notify_atom>>;

/// The pool: same jobs as a worker, dispatched to an idle one.
using db_pool_actor = caf::typed_actor<
  CTI_DB_JOBS,
  /// Answers the idle/active/waiting counts.
  caf::replies_to<stats_atom>::with<pool_stats>,
  /// Internal: fail queued jobs whose wait exceeded its bound.
  caf::reacts_to<expire_atom>,
  /// Internal: close connections idle past the pool's idle timeout.
  caf::reacts_to<shrink_atom>>;

/// Group commit: gathers concurrent events for a moment and stores them in
/// one transaction.
using ingester_actor = caf::typed_actor<
  /// Stores one event; answers after its batch committed (or db_unavailable).
  caf::replies_to<ingest_atom, ingest_item>::with<ingest_result>,
  /// The same, answered through the callback instead of a response.
  caf::reacts_to<ingest_atom, ingest_item, ingest_reply>,
  /// Internal: the batch with this generation waited long enough.
  caf::reacts_to<flush_atom, uint64_t>>;

/// One app's hot state on this node (actors/tenant.hpp).
using tenant_actor = caf::typed_actor<
  /// An event of the app was applied and committed.
  caf::reacts_to<caf::publish_atom, applied_event>,
  /// The CRM user mapped to a Dialpad user ("" when none), from the cache.
  caf::replies_to<crm_atom, int64_t>::with<std::string>,
  /// The app's user mappings changed: drop the cache.
  caf::reacts_to<invalidate_atom>,
  /// {last seq received, events received, mappings cached}.
  caf::replies_to<stats_atom>::with<std::vector<int64_t>>,
  /// A WebSocket session (a ws_session actor) subscribes with its filter;
  /// the tenant sends it the welcome, the replay, then live event frames.
  /// Answered (true) once the tenant holds the session: a subscription
  /// that reached a tenant in the instant it failed comes back as an
  /// error, and the registry hands it to a fresh one.
  caf::replies_to<subscribe_atom, caf::actor, ws_filter>::with<bool>,
  /// A session went away.
  caf::reacts_to<unsubscribe_atom, caf::actor>,
  /// Close every session of the app (code, reason).
  caf::reacts_to<close_atom, uint16_t, std::string>,
  /// Internal: the wait for a missing seq is over.
  caf::reacts_to<gap_atom, int64_t>,
  /// Internal: the app's stream position was read from the database.
  caf::reacts_to<app_atom, int64_t>>;

/// The node's cluster hub (actors/cluster.hpp). Changes come to it from
/// the local registry (for the peers) and from peer hubs (for the local
/// registry); it tells them apart by their sender.
using cluster_hub_actor = caf::typed_actor<
  /// Internal: the heartbeat.
  caf::reacts_to<caf::tick_atom>,
  /// A peer introduces itself (protocol version, node name, proof); the
  /// answer is ours.
  caf::replies_to<hello_atom, uint32_t, std::string, std::string>::with<uint32_t, std::string,
                                                                        std::string>,
  caf::reacts_to<caf::publish_atom, applied_event>,
  caf::reacts_to<invalidate_atom, std::string>,
  caf::reacts_to<mappings_atom, std::string>,
  caf::reacts_to<close_atom, std::string, uint16_t, std::string>,
  /// Graceful stop: leave the cluster_nodes table; answers when done.
  caf::replies_to<stop_atom>::with<bool>>;

/// Node-wide cache of tenants: who an app id or org id is, whether it is
/// active, which webhook secret it uses.
using tenant_registry_actor = caf::typed_actor<
  /// Answers the app with this id (found = false when none).
  caf::replies_to<app_atom, std::string>::with<app_info>,
  /// Answers the app registered for this Dialpad org id.
  caf::replies_to<org_atom, int64_t>::with<app_info>,
  /// Authenticates an API key (one bcrypt per key per node, then cached).
  caf::replies_to<auth_atom, std::string>::with<app_auth>,
  /// Drops everything cached about an app (after a change to it: its row,
  /// its key, its connection); answers once the caches forgot it.
  caf::replies_to<invalidate_atom, std::string>::with<bool>,
  /// An event was applied and committed: hand it to the app's tenant actor.
  caf::reacts_to<caf::publish_atom, applied_event>,
  /// The app's user mappings changed (its tenant actor drops its cache).
  caf::reacts_to<mappings_atom, std::string>,
  /// The CRM user mapped to a Dialpad user of an app ("" when none),
  /// answered by the app's tenant actor (spawned on first use).
  caf::replies_to<crm_atom, std::string, int64_t>::with<std::string>,
  /// The app's tenant actor's figures (see tenant_actor).
  caf::replies_to<stats_atom, std::string>::with<std::vector<int64_t>>,
  /// Forwarded to the app's tenant actor.
  caf::reacts_to<subscribe_atom, std::string, caf::actor, ws_filter>,
  caf::reacts_to<unsubscribe_atom, std::string, caf::actor>,
  caf::reacts_to<close_atom, std::string, uint16_t, std::string>,
  /// The node's cluster hub (actors/cluster.hpp): from now on, every change
  /// made on this node (applied events, invalidations, mapping changes,
  /// session closes) goes to it for the peers too. What the hub brings
  /// from the peers is not sent back to it.
  caf::reacts_to<cluster_atom, cluster_hub_actor>>;

/// bcrypt off the scheduler: a detached actor (the node runs a few).
using hasher_actor = caf::typed_actor<
  /// Hashes a new API key with the configured cost.
  caf::replies_to<hash_atom, std::string>::with<std::string>,
  /// Checks a key against a stored hash.
  caf::replies_to<verify_atom, std::string, std::string>::with<bool>>;

/// Outbound HTTP (Dialpad): a front actor spreading calls over a few
/// detached workers, each blocking only its own thread (net/http_client).
using http_client_actor = caf::typed_actor<
  /// Performs one exchange; failures come back in `outbound_response::error`.
  caf::replies_to<http_call_atom, outbound_request>::with<outbound_response>>;

/// One connected Dialpad account's token refresher (actors/dialpad.cpp).
using refresher_actor = caf::typed_actor<
  /// A usable access token and its environment (`sandbox`|`production`),
  /// refreshed first when it expires within REFRESH_MARGIN. Errors:
  /// conflict (not connected), upstream_failed.
  caf::replies_to<token_atom>::with<std::string, std::string>,
  /// Internal: time to look at the connection again (timer generation;
  /// 0: read the connection again now).
  caf::reacts_to<refresh_atom, uint64_t>,
  /// Internal: store a refreshed pair again (args JSON, access token,
  /// expiry in epoch µs, attempt).
  caf::reacts_to<store_atom, std::string, std::string, int64_t, int>,
  /// From the manager, after the refresher said it is done and was taken
  /// out of the manager's map: end now (every ask the manager sent before
  /// this has been answered).
  caf::reacts_to<stop_atom>>;

/// The node's Dialpad accounts: one refresher per connected app, the screen
/// pop, the revocation on disconnect.
using dialpad_actor = caf::typed_actor<
  /// The app's account was connected (or found connected at start): make
  /// sure its refresher runs.
  caf::reacts_to<start_atom, std::string>,
  /// The app's connection was deleted: stop its refresher and revoke the
  /// access token at Dialpad, best effort (app id, environment, sealed
  /// access token as hex, empty when it had none).
  caf::reacts_to<stop_atom, std::string, std::string, std::string>,
  /// Something about the app changed, here or on another node (the
  /// registry passes on every invalidation): a running refresher reads
  /// the connection again, so a disconnect or a new connection made
  /// through another node stops the old token being used.
  caf::reacts_to<invalidate_atom, std::string>,
  /// A refresher has nothing more to do (the account is not connected, or
  /// its token cannot be refreshed): the manager forgets it and tells it to
  /// end. Until then it answers asks with what it knows.
  caf::reacts_to<stop_atom, refresher_actor>,
  /// Runs call-history sync job (app, job id, since as epoch µs), already
  /// recorded as running in the connection row.
  caf::reacts_to<sync_atom, std::string, std::string, int64_t>,
  /// POST /api/screen-pop for (serial, app, Dialpad user id, URI).
  caf::replies_to<screen_pop_atom, uint64_t, std::string, int64_t, std::string>::with<
    api_response>,
  /// The app's access token and environment, through its refresher (the
  /// errors of refresher_actor's token_atom). A refresher that ended just
  /// before the ask (it ends when it finds the account not connected) is
  /// replaced and asked again.
  caf::replies_to<token_atom, std::string>::with<std::string, std::string>>;

/// The retention job (actors/retention.cpp): wakes every
/// RETENTION_INTERVAL_SECONDS, or when asked.
using retention_actor = caf::typed_actor<
  /// Applies every app's retention now; answers the counts as JSON.
  caf::replies_to<retention_atom>::with<std::string>,
  /// Internal: the periodic run.
  caf::reacts_to<caf::tick_atom>>;

/// One of the node's queue pollers.
using queue_poller_actor = caf::typed_actor<
  /// New events may be queued: poll now, from the last position.
  caf::reacts_to<wake_atom>,
  /// An old event became due again (a replay): poll now, from the oldest.
  caf::reacts_to<rescan_atom>,
  /// Internal: the scheduled round from the oldest settled event.
  caf::reacts_to<poll_atom>,
  /// Internal: the periodic safety-net poll.
  caf::reacts_to<caf::tick_atom>>;

/// The LISTEN connection: a detached actor that wakes the pollers when
/// another node stored events, or an event was replayed.
using event_listener_actor = caf::typed_actor<
  /// Internal: wait a moment for notifications, wake the pollers, repeat.
  caf::reacts_to<poll_atom>,
  /// Internal: try to reconnect now.
  caf::reacts_to<reconnect_atom>>;

/// The actor behind one HTTP connection.
using http_handler_actor = caf::typed_actor<
  /// Handles one request; answers through the session sink, never in-band.
  caf::reacts_to<handle_atom, api_request>>;

/// The actor behind one WebSocket connection: relays its tenant's frames to
/// the connection.
using ws_session_actor = caf::typed_actor<
  /// A frame for the client (JSON text).
  caf::reacts_to<frame_atom, std::string>,
  /// Close the connection (code, reason).
  caf::reacts_to<close_atom, uint16_t, std::string>>;

/// Registers the cti type-ID block and error category with `cfg`. `main` and
/// every test fixture call it before creating the actor system.
void add_message_types(caf::actor_system_config& cfg);

} // namespace cti
