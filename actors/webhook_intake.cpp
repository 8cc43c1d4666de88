// Webhook intake: verify, route to a tenant, store durably, answer.
//
// The checks run in the order API.md fixes, the first failure answering:
//
//   413 size (net/) ─► 415 content type ─► tenant from path / API key
//   (401/404/403) ─► signature (401) ─► JSON (400) ─► tenant from org id
//   (404/403) ─► identity ─► ingester (group commit) ─► 200 | 503
//
// Nothing is stored unless every check passed, and 200 is sent only after
// the event's batch committed.

#include <cctype>
#include <stdexcept>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "actors/http_handler.hpp"
#include "actors/http_handler_state.hpp"
#include "domain/api_key.hpp"
#include "domain/event_model.hpp"
#include "domain/internal_failures.hpp"
#include "domain/json_limits.hpp"
#include "domain/log.hpp"
#include "domain/time_format.hpp"
#include "domain/uuid.hpp"
#include "domain/validation.hpp"
#include "domain/webhook_auth.hpp"
#include "domain/webhook_intake.hpp"

namespace cti {

namespace {

/// A webhook travelling through the checks.
struct intake {
  api_request req;
  webhook_wire wire = webhook_wire::dialpad_jwt;
  std::optional<app_info> app;  ///< Known from the path (or, later, the org id).
  std::string payload_text;     ///< The JSON text (decoded JWT payload, or the body).
  nlohmann::json payload;
  bool unsigned_pending = false; ///< Plain JSON whose app must allow unsigned.
  bool parsed = false;           ///< `payload` holds the parsed JSON object.
  /// The app came from the org id of unsigned JSON before its JSON was
  /// checked: its 404/403 comes after the JSON's 400, as API.md orders them.
  bool check_app_after_json = false;
  int64_t received_at_us = 0;
  const node_context* ctx = nullptr; ///< Outlives every request (the node's).
  /// Set when the HTTP session handed the webhook over itself (no handler
  /// actor: `self` is null in every step); the answer goes straight here.
  std::weak_ptr<session_sink> sink;
};

using intake_ptr = std::shared_ptr<intake>;

/// Answers the webhook: through its handler actor, or (handed over by the
/// session itself) straight to the session.
void answer(handler_ptr self, const intake& in, api_response resp) {
  if (self) {
    reply(self, std::move(resp));
    return;
  }
  if (auto sink = in.sink.lock()) // the client may have gone meanwhile
    sink->deliver(std::move(resp));
}

void fail(handler_ptr self, const intake& in, errc code, std::string message) {
  answer(self, in, api_response::failure(in.req.serial, code, std::move(message)));
}

/// Maps a lookup failure (timeout, database down) to the answer Dialpad
/// should see: 503, so that it retries.
void fail_lookup(handler_ptr self, const intake& in, const caf::error& err) {
  auto code = errc_of(err) == errc::internal ? errc::internal : errc::db_unavailable;
  fail(self, in, code, code == errc::internal ? "tenant lookup failed" : "database unavailable");
}

/// 404 / 403 for an app that is missing or disabled; true when usable.
bool check_app(handler_ptr self, const intake& in, const app_info& app) {
  if (!app.found) {
    fail(self, in, errc::not_found, "unknown tenant");
    return false;
  }
  if (!app.is_active) {
    fail(self, in, errc::forbidden, "app is disabled");
    return false;
  }
  if (app.secret_unreadable) {
    // Never verify with a garbled secret; 500 so that Dialpad retries once
    // the operator restores the right DATABASE_ENCRYPTION_KEY.
    fail(self, in, errc::internal, "the app's webhook secret cannot be decrypted");
    return false;
  }
  return true;
}

void store(handler_ptr self, intake_ptr in);
void parse_payload(handler_ptr self, intake_ptr in);
void checked_object(handler_ptr self, intake_ptr in);

/// The org id of the `x-dialpad-org-id` header, if it names one.
std::optional<int64_t> header_org_id(const intake& in) {
  if (auto h = in.req.header("x-dialpad-org-id"))
    return json_int64(nlohmann::json(*h));
  return std::nullopt;
}

/// Step 4: the tenant from the org id (header, else payload), when the path
/// did not name one. Unsigned JSON with the org id in the header comes here
/// before its body is parsed: its signature check needs the app (does it
/// take unsigned webhooks?), and the signature comes before the JSON.
void route_by_org(handler_ptr self, intake_ptr in) {
  // A header that is there is the org id (API.md: "x-dialpad-org-id
  // header, else the payload's"), even when it names none: the payload's
  // stands in only for a missing header.
  const bool has_header = in->req.header("x-dialpad-org-id") != nullptr;
  auto org = header_org_id(*in);
  if (!has_header && in->parsed)
    org = payload_org_id(in->payload);
  // Unsigned JSON passes the signature check only for an app whose
  // connection allows it; with no such app (no org id, an unknown one, or
  // an app that does not allow it) the signature check, which comes before
  // the org-id routing in the contract's order, answers 401.
  if (!org) {
    if (in->unsigned_pending)
      fail(self, *in, errc::unauthorized, "missing signature");
    else if (has_header)
      fail(self, *in, errc::not_found, "unknown tenant: x-dialpad-org-id is not an org id");
    else
      fail(self, *in, errc::not_found, "unknown tenant: no app id, API key or org id");
    return;
  }
  auto routed = [self, in](app_info& app) {
    if (in->unsigned_pending) {
      if (!(app.found && app.allow_unsigned)) {
        fail(self, *in, errc::unauthorized, "missing signature");
        return;
      }
      // The app takes unsigned webhooks: the signature check passed, now
      // the JSON (400 when it is not an event object), then the app's
      // state (403).
      in->unsigned_pending = false;
      in->check_app_after_json = true;
      in->app = std::move(app);
      if (in->parsed) // routed by the payload's org id: parsed already
        checked_object(self, in);
      else
        parse_payload(self, in);
      return;
    }
    if (!check_app(self, *in, app))
      return;
    in->app = std::move(app);
    store(self, in);
  };
  if (auto hit = in->ctx->tenants->find_by_org(*org)) {
    routed(*hit);
    return;
  }
  if (!self) { // never: the session hands over only webhooks whose app it knows
    fail(self, *in, errc::internal, "webhook routing failed");
    return;
  }
  // The registry always answers (its own database wait is bounded), and the
  // session times the whole request out: no clock entry needed here.
  self->request(self->state.ctx->registry, caf::infinite, org_atom_v, *org)
    .then(routed, [self, in](caf::error& err) { fail_lookup(self, *in, err); });
}

/// Step 3: the JSON itself. Unsigned JSON whose app is not known yet (no
/// path, key or org-id header) can only name its app by the payload's org
/// id: a body that is no JSON object names none, and fails the signature
/// check (401), which comes before the JSON's 400.
void parse_payload(handler_ptr self, intake_ptr in) {
  auto parsed = parse_untrusted_json(in->payload_text);
  if (parsed.fault != json_fault::none) {
    if (in->unsigned_pending)
      fail(self, *in, errc::unauthorized, "missing signature");
    else
      fail(self, *in, errc::invalid_json, describe(parsed.fault));
    return;
  }
  in->payload = std::move(parsed.value);
  if (!in->payload.is_object()) {
    if (in->unsigned_pending)
      fail(self, *in, errc::unauthorized, "missing signature");
    else
      fail(self, *in, errc::invalid_json, "the event must be a JSON object");
    return;
  }
  in->parsed = true;
  checked_object(self, in);
}

/// Step 3, its end: the parsed object's own checks, then the app's state
/// (when it waited for the JSON), then storing or the org-id routing.
void checked_object(handler_ptr self, intake_ptr in) {
  if (!in->unsigned_pending && contains_nul(in->payload)) {
    fail(self, *in, errc::invalid_json, "JSON strings must not contain \\u0000");
    return;
  }
  if (in->check_app_after_json && !check_app(self, *in, *in->app))
    return;
  if (in->app)
    store(self, in);
  else
    route_by_org(self, in);
}

/// Step 2: the signature, on the raw bytes.
void verify(handler_ptr self, intake_ptr in) {
  const auto& cfg = in->ctx->cfg;
  // Org-id routing verifies with the global secret: the app is not known
  // before the body is read.
  const auto& secret = in->app && !in->app->webhook_secret.empty() ? in->app->webhook_secret
                                                                   : cfg.dialpad_webhook_secret;
  switch (in->wire) {
    case webhook_wire::seed:
      if (!verify_hex_signature(in->req.body, secret, *in->req.header("x-dialpad-signature"))) {
        fail(self, *in, errc::unauthorized, "invalid signature");
        return;
      }
      in->payload_text = in->req.body;
      break;
    case webhook_wire::dialpad_jwt: {
      auto check = verify_hs256_jwt(in->req.body, secret);
      if (!check.ok) {
        fail(self, *in, errc::unauthorized, "invalid signature: " + check.error);
        return;
      }
      in->payload_text = std::move(check.payload);
      break;
    }
    case webhook_wire::dialpad_json:
      if (in->app && !in->app->allow_unsigned) {
        fail(self, *in, errc::unauthorized, "missing signature");
        return;
      }
      // Without a known app the answer waits for the org id: from the
      // header before the body is parsed, else from the body.
      in->unsigned_pending = !in->app;
      in->payload_text = in->req.body;
      if (in->unsigned_pending && header_org_id(*in)) {
        route_by_org(self, in);
        return;
      }
      break;
  }
  parse_payload(self, in);
}

/// The 200 for a stored (or already stored) webhook.
api_response stored(uint64_t serial, const std::string& app_id, const ingest_result& res) {
  // In the contract's order (the event id is a UUID: nothing to escape).
  auto resp = api_response::json(serial, 200,
                                 R"({"received":true,"event_id":")" + res.event_id
                                   + (res.duplicate ? R"(","duplicate":true})"
                                                    : R"(","duplicate":false})"));
  resp.app_id = app_id;
  return resp;
}

/// The answer for a webhook the ingester did not store: 503 unless the
/// database refused its data.
api_response not_stored(uint64_t serial, const std::string& app_id, const caf::error& err) {
  auto code = errc_of(err);
  if (code == errc::timeout)
    code = errc::db_unavailable; // not acknowledged: Dialpad must retry
  auto resp = api_response::failure(serial, code,
                                    code == errc::db_unavailable
                                      ? "database unavailable, retry later"
                                    : code == errc::not_found
                                      ? "unknown tenant" // deleted while the request waited
                                      : "the event could not be stored");
  resp.app_id = app_id;
  return resp;
}

/// Step 5: identity, then the ingester; 200 after the commit.
void store(handler_ptr self, intake_ptr in) {
  // For a JWT body, the hash fallback covers the token text.
  auto event_id = derive_event_id(in->payload, in->wire == webhook_wire::dialpad_jwt
                                                 ? jwt_token_text(in->req.body)
                                                 : std::string_view{in->req.body});
  auto event_type = derive_event_type(in->payload);
  // Characters, as the columns count them (the JSON was valid UTF-8).
  auto characters = [](const std::string& s) { return utf8_length(s).value_or(s.size()); };
  if (event_id.empty() || characters(event_id) > max_event_id_length) {
    fail(self, *in, errc::bad_request, "event id must be 1..512 characters");
    return;
  }
  if (event_type.empty() || characters(event_type) > max_event_type_length) {
    fail(self, *in, errc::bad_request, "event type must be 1..128 characters");
    return;
  }
  // A call or user id that is there but cannot be one (past 64 bits, a
  // fraction, text; a call id that is not positive) is refused rather than
  // stored and ignored. Absent, null or "" is no id, as before.
  if (in->payload.is_object()) {
    auto given = [&](const char* field) -> const nlohmann::json* {
      auto it = in->payload.find(field);
      if (it == in->payload.end() || it->is_null() || (it->is_string() && it->get_ref<const std::string&>().empty()))
        return nullptr;
      return &*it;
    };
    // (Read as the event model reads them: json_int64.)
    for (const char* field : {"dialpad_call_id", "call_id"})
      if (const auto* v = given(field); v && !(json_int64(*v).value_or(0) > 0)) {
        fail(self, *in, errc::bad_request,
             std::string{field} + " must be a positive integer of at most 64 bits");
        return;
      }
    // An SMS's id names the message record, as a call id names the call
    // (read as the event model reads it: a seed's `message_id`, else its
    // `id`; a Dialpad payload's `id`). A seed `id` that is text is its
    // event id, not a message id: only a number there is held to the rule.
    if (event_type.rfind("sms.", 0) == 0) {
      bool explicit_id = is_seed_payload(in->payload) && given("message_id");
      const char* field = explicit_id ? "message_id" : "id";
      const auto* v = given(field);
      if (v && !explicit_id && !v->is_number())
        v = nullptr;
      if (v && !(json_int64(*v).value_or(0) > 0)) {
        fail(self, *in, errc::bad_request,
             std::string{field} + " must be a positive integer of at most 64 bits");
        return;
      }
    }
    for (const char* field : {"dialpad_user_id", "user_id"})
      if (const auto* v = given(field); v && !json_int64(*v)) {
        fail(self, *in, errc::bad_request, std::string{field} + " must be an integer of at most 64 bits");
        return;
      }
  }
  const auto& ctx = *in->ctx;
  if (const auto& bound = ctx.app_webhooks; bound && bound->enabled()) {
    // Counted only once the signature held: nobody else can spend an app's
    // bound. Past it, 503: Dialpad retries 5xx, and never sees a 429 here.
    if (auto wait = bound->admit(in->app->id); wait > 0) {
      auto resp = api_response::failure(in->req.serial, errc::db_unavailable,
                                        "the app is past its webhook bound for this minute"
                                        " (WEBHOOK_RATE_LIMIT_PER_MINUTE); retry later");
      resp.app_id = in->app->id;
      resp.headers.push_back({"Retry-After", std::to_string(wait)});
      answer(self, *in, std::move(resp));
      return;
    }
  }
  ingest_item item;
  item.app_id = in->app->id;
  item.dialpad_event_id = std::move(event_id);
  item.event_type = std::move(event_type);
  // Stored exactly as received (only the erase endpoint ever redacts it).
  item.payload = std::move(in->payload_text);
  item.format = std::string{to_string(in->wire)};
  item.received_at_us = in->received_at_us;
  item.serial = event_serial(item.app_id, item.event_type, extract_event(in->payload));
  // The ingester always answers (after the commit, or with an error when
  // the database does not answer in time).
  if (!self) {
    // Handed over by the session: the ingester answers through this
    // callback, on its own thread, and the answer goes to the session.
    // Only what the answer needs: the request (body, headers, parsed
    // JSON) is freed here, not on the ingester's thread after the commit.
    ingest_reply done{[sink = in->sink, serial = in->req.serial, app_id = in->app->id,
                       received = in->received_at_us,
                       processing = ctx.processing](ingest_result* res, const caf::error* err) {
      if (res && processing)
        processing->record_ingest(
          std::chrono::microseconds{now_utc().time_since_epoch().count() - received});
      if (auto s = sink.lock()) // the client may have gone meanwhile
        s->deliver(res ? stored(serial, app_id, *res) : not_stored(serial, app_id, *err));
    }};
    in.reset();
    caf::anon_send(ctx.ingester, ingest_atom_v, std::move(item), std::move(done));
    return;
  }
  self->request(ctx.ingester, caf::infinite, ingest_atom_v, std::move(item))
    .then(
      [self, in](ingest_result& res) {
        if (const auto& figures = in->ctx->processing)
          figures->record_ingest(
            std::chrono::microseconds{now_utc().time_since_epoch().count() - in->received_at_us});
        reply(self, stored(in->req.serial, in->app->id, res));
      },
      [self, in](caf::error& err) { reply(self, not_stored(in->req.serial, in->app->id, err)); });
}

} // namespace

void handle_webhook(handler_ptr self, api_request&& request) {
  auto in = std::make_shared<intake>();
  in->ctx = self->state.ctx.get();
  in->req = std::move(request);
  const auto& req = in->req;
  in->received_at_us = now_utc().time_since_epoch().count();
  // 415 before anything tenant-related.
  if (!is_acceptable_webhook_content_type(req.header("content-type"))) {
    fail(self, *in, errc::unsupported_media_type,
         "Content-Type must be JSON, JWT or text");
    return;
  }
  in->wire = classify_webhook(req.header("x-dialpad-signature") != nullptr, req.body,
                              req.header("content-type"));
  // Step 1: the tenant from the path, or from an API key header.
  if (req.route == endpoint::webhook_app) {
    const auto* raw_id = req.path_param("app_id");
    if (raw_id == nullptr || !is_uuid(*raw_id)) {
      fail(self, *in, errc::not_found, "unknown tenant");
      return;
    }
    std::string id = lowercase_uuid(*raw_id);
    auto routed = [self, in](app_info& app) {
      if (!check_app(self, *in, app))
        return;
      in->app = std::move(app);
      verify(self, in);
    };
    if (auto hit = in->ctx->tenants->find_by_id(id)) {
      routed(*hit);
      return;
    }
    self->request(self->state.ctx->registry, caf::infinite, app_atom_v, id)
      .then(routed, [self, in](caf::error& err) { fail_lookup(self, *in, err); });
    return;
  }
  if (const auto* key = app_key_header(req)) {
    // The tenant from a valid app key (401 for a key that is not valid).
    auto routed = [self, in](const app_info& app) {
      if (!check_app(self, *in, app))
        return;
      in->app = app;
      verify(self, in);
    };
    auto by_id = [self, in, routed](const std::string& app_id) {
      if (auto hit = in->ctx->tenants->find_by_id(app_id)) {
        routed(*hit);
        return;
      }
      self->request(self->state.ctx->registry, caf::infinite, app_atom_v, app_id)
        .then([routed](app_info& app) { routed(app); },
              [self, in](caf::error& err) { fail_lookup(self, *in, err); });
    };
    auto decide = [self, in, by_id](const app_auth& auth) {
      if (!auth.valid) {
        fail(self, *in, errc::unauthorized, "invalid API key");
        return;
      }
      if (!auth.is_active) {
        fail(self, *in, errc::forbidden, "app is disabled");
        return;
      }
      by_id(auth.app_id);
    };
    if (!is_api_key_format(*key)) {
      fail(self, *in, errc::unauthorized, "invalid API key");
      return;
    }
    if (auto hit = in->ctx->tenants->find_key(api_key_fingerprint(*key))) {
      decide(*hit);
      return;
    }
    self->request(self->state.ctx->registry, caf::infinite, auth_atom_v, *key)
      .then([decide](app_auth& auth) { decide(auth); },
            [self, in](caf::error& err) { fail_lookup(self, *in, err); });
    return;
  }
  verify(self, in);
}

/// Larger webhooks go through the handler actor: their checks (a JWT's
/// base64, the JSON parse, the hash fallback) would hold every other
/// connection of the asio thread meanwhile.
constexpr std::size_t fast_path_max_body = 64 * 1024;

bool handle_webhook_in_session(const node_context& ctx, api_request& request,
                               const std::weak_ptr<session_sink>& sink) {
  // Only what needs nothing but this node's memory: the app named in the
  // path and cached, a content type that passes. The rest (a lookup, an
  // API key, org-id routing, a 415) goes through the handler actor.
  if (request.route != endpoint::webhook_app || request.body.size() > fast_path_max_body
      || !is_acceptable_webhook_content_type(request.header("content-type")))
    return false;
  const auto* raw_id = request.path_param("app_id");
  if (raw_id == nullptr || !is_uuid(*raw_id))
    return false;
  auto app = ctx.tenants->find_by_id(lowercase_uuid(*raw_id));
  if (!app)
    return false;
  auto in = std::make_shared<intake>();
  in->ctx = &ctx;
  in->sink = sink;
  in->received_at_us = now_utc().time_since_epoch().count();
  in->req = std::move(request);
  in->wire = classify_webhook(in->req.header("x-dialpad-signature") != nullptr, in->req.body,
                              in->req.header("content-type"));
  try {
    if (!failing_request_id().empty() && in->req.request_id == failing_request_id())
      throw std::runtime_error("test hook: the handler fails on this request"
                               " (a webhook checked on its session's thread)");
    if (!check_app(nullptr, *in, *app))
      return true;
    in->app = std::move(*app);
    verify(nullptr, in);
  } catch (const std::exception& e) {
    // A bug, as an exception in the handler actor would be: the same 500
    // and closed connection (handler_failed_serial), the same log line.
    count_internal_failure(failure_site::http_handler);
    log::error("an HTTP request failed on an internal error; it gets 500 and its connection"
               " is closed",
               {{"error", e.what()}});
    if (auto s = sink.lock())
      s->deliver(api_response::failure(fast_path_failed_serial, errc::internal, "internal error"));
  }
  return true;
}

} // namespace cti
