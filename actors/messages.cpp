#include "actors/messages.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>
#include <caf/sec.hpp>

namespace cti {

std::string to_string(errc x) {
  switch (x) {
    case errc::none: return "none";
    case errc::db_unavailable: return "unavailable";
    case errc::conflict: return "conflict";
    case errc::not_found: return "not_found";
    case errc::bad_request: return "bad_request";
    case errc::invalid_json: return "invalid_json";
    case errc::unauthorized: return "unauthorized";
    case errc::forbidden: return "forbidden";
    case errc::payload_too_large: return "payload_too_large";
    case errc::unsupported_media_type: return "unsupported_media_type";
    case errc::rate_limited: return "rate_limited";
    case errc::timeout: return "timeout";
    case errc::upstream_failed: return "dialpad_error";
    case errc::internal: return "internal";
  }
  return "internal";
}

caf::error make_error(errc x) {
  return caf::error{static_cast<uint8_t>(x), caf::atom("cti")};
}

caf::error make_error(errc x, std::string context) {
  return caf::error{static_cast<uint8_t>(x), caf::atom("cti"),
                    caf::make_message(std::move(context))};
}

bool is_errc(const caf::error& err, errc code) {
  return err.category() == caf::atom("cti") && err.code() == static_cast<uint8_t>(code);
}

std::string message_of(const caf::error& err) {
  const auto& ctx = err.context();
  if (err.category() == caf::atom("cti") && ctx.size() == 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  switch (errc_of(err)) {
    case errc::db_unavailable: return "database unavailable";
    case errc::timeout: return "the request timed out";
    case errc::not_found: return "not found";
    default: return "internal error";
  }
}

errc errc_of(const caf::error& err) {
  if (!err)
    return errc::none;
  if (err.category() == caf::atom("cti"))
    return static_cast<errc>(err.code());
  if (err.category() == caf::atom("system")
      && err.code() == static_cast<uint8_t>(caf::sec::request_timeout))
    return errc::timeout;
  return errc::internal;
}

namespace {

const std::string* find(const std::vector<name_value>& xs, std::string_view name) {
  for (const auto& x : xs)
    if (x.name == name)
      return &x.value;
  return nullptr;
}

} // namespace

const std::string* api_request::header(std::string_view name) const {
  return find(headers, name);
}

const char* endpoint_name(endpoint e) {
  switch (e) {
    case endpoint::root: return "root";
    case endpoint::health: return "health";
    case endpoint::metrics: return "metrics";
    case endpoint::webhook: return "webhook";
    case endpoint::webhook_app: return "webhook_app";
    case endpoint::app_events: return "app_events";
    case endpoint::event: return "event";
    case endpoint::event_replay: return "event_replay";
    case endpoint::apps: return "apps";
    case endpoint::app: return "app";
    case endpoint::app_dialpad: return "app_dialpad";
    case endpoint::app_dialpad_sync: return "app_dialpad_sync";
    case endpoint::app_erase: return "app_erase";
    case endpoint::app_retention: return "app_retention";
    case endpoint::audit: return "audit";
    case endpoint::retention_run: return "retention_run";
    case endpoint::api_key: return "api_key";
    case endpoint::api_key_revoke: return "api_key_revoke";
    case endpoint::api_key_status: return "api_key_status";
    case endpoint::api_key_audit: return "api_key_audit";
    case endpoint::user_map: return "user_map";
    case endpoint::user_batch_map: return "user_batch_map";
    case endpoint::user_mappings: return "user_mappings";
    case endpoint::user_mapping_dialpad: return "user_mapping_dialpad";
    case endpoint::user_mapping_crm: return "user_mapping_crm";
    case endpoint::user_mapping: return "user_mapping";
    case endpoint::internal_voicemails: return "internal_voicemails";
    case endpoint::internal_voicemail: return "internal_voicemail";
    case endpoint::calls: return "calls";
    case endpoint::calls_active: return "calls_active";
    case endpoint::calls_export: return "calls_export";
    case endpoint::call: return "call";
    case endpoint::voicemails: return "voicemails";
    case endpoint::voicemail: return "voicemail";
    case endpoint::messages: return "messages";
    case endpoint::screen_pop: return "screen_pop";
    case endpoint::ws: return "ws";
    case endpoint::ws_stats: return "ws_stats";
    case endpoint::cluster: return "cluster";
    case endpoint::oauth_connect: return "oauth_connect";
    case endpoint::oauth_callback: return "oauth_callback";
    case endpoint::console: return "console";
    case endpoint::console_apps: return "console_apps";
    case endpoint::console_ticket: return "console_ticket";
    case endpoint::console_stream: return "console_stream";
  }
  return "unknown";
}

const std::string* outbound_response::header(std::string_view name) const {
  return find(headers, name);
}

const std::string* api_request::query_param(std::string_view name) const {
  // A parameter given empty (`since=&until=`, as API.md's own templates
  // write them) counts as absent; of repeats the first non-empty one wins.
  for (const auto& nv : query)
    if (nv.name == name && !nv.value.empty())
      return &nv.value;
  return nullptr;
}

const std::string* api_request::path_param(std::string_view name) const {
  return find(path_params, name);
}

api_response api_response::json(uint64_t serial, uint16_t status, std::string body) {
  api_response r;
  r.serial = serial;
  r.status = status;
  r.body = std::move(body);
  return r;
}

api_response api_response::failure(uint64_t serial, errc code, std::string message) {
  api_response r;
  r.serial = serial;
  r.error = code;
  r.error_message = std::move(message);
  return r;
}

struct ingest_reply::once {
  callback fn;
  bool done = false;

  ~once() {
    if (done || !fn)
      return;
    try {
      auto err = make_error(errc::db_unavailable, "the event was not stored");
      fn(nullptr, &err);
    } catch (...) { // never out of a destructor; the session's timer answers
    }
  }
};

ingest_reply::ingest_reply(callback fn) : once_(std::make_shared<once>()) {
  once_->fn = std::move(fn);
}

void ingest_reply::operator()(ingest_result* res, const caf::error* err) const {
  if (!once_ || once_->done || !once_->fn)
    return;
  once_->done = true;
  once_->fn(res, err);
}

void add_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::cti>();
  // (The templated add_error_category<T> of CAF 0.17.6 does not compile.)
  cfg.add_error_category(caf::atom("cti"),
                         [](uint8_t code, caf::atom_value, const caf::message& ctx) {
                           auto out = "cti: " + to_string(static_cast<errc>(code));
                           if (!ctx.empty())
                             out += " (" + caf::to_string(ctx) + ")";
                           return out;
                         });
}

} // namespace cti
