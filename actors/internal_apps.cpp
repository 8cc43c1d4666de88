// Internal API (bearer) for tenants: apps, their Dialpad connection
// registration, their API key, their user mappings and voicemails.
//
// Every parameter is validated here; the database sees only valid values
// (db/api_repo.hpp). A path id that is not a UUID names nothing: 404.

#include <algorithm>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "actors/http_handler_state.hpp"
#include "db/api_repo.hpp"
#include "domain/api_key.hpp"
#include "domain/log.hpp"
#include "domain/phone.hpp"
#include "domain/redact.hpp"
#include "domain/pagination.hpp"
#include "domain/seal.hpp"
#include "domain/secure_random.hpp"
#include "domain/time_format.hpp"
#include "domain/uuid.hpp"
#include "domain/validation.hpp"

namespace cti {

namespace {

using json = nlohmann::json;

constexpr std::size_t max_batch_mappings = 1000;
constexpr std::size_t max_webhook_secret_length = 1024;

/// Answers `q`, after the node's caches forgot the app (so the change is in
/// force before the caller hears of it). `close_reason`, when given, closes
/// the app's WebSocket sessions with 1008 and that reason.
void answer_invalidating(handler_ptr self, uint64_t serial, db_query q,
                         std::string close_reason = {},
                         std::function<void(const db_answer&)> also = {}) {
  auto app_id = q.app_id;
  answer_query_then(self, serial, std::move(q),
                    [self, app_id, close_reason, also](db_answer& ans,
                                                       std::function<void()> finish) {
                      if (also)
                        also(ans);
                      bool close = !close_reason.empty()
                                   && (close_reason != "app disabled"
                                       || ans.body.find("\"is_active\":false") != std::string::npos);
                      // Sessions close after the caches forgot the key: a
                      // key check that passed before that is older than the
                      // close, which the tenant holds against late subscribers.
                      auto done = [self, app_id, close_reason, close, finish] {
                        if (close)
                          self->send(self->state.ctx->registry, close_atom_v, app_id,
                                     uint16_t{1008}, close_reason);
                        finish();
                      };
                      self->request(self->state.ctx->registry, std::chrono::seconds{5},
                                    invalidate_atom_v, app_id)
                        .then([done](bool) { done(); }, [done](caf::error&) { done(); });
                    });
}

/// A name field: a string of 1..200 characters, not blank.
bool read_name(handler_ptr self, const api_request& req, const json& body, bool required,
               json& args) {
  auto it = body.find("name");
  if (it == body.end() || (required && it->is_null())) {
    if (required)
      reply_bad_request(self, req, "name is required");
    return !required;
  }
  // (An update's null falls through: a name cannot be cleared.)
  if (!it->is_string() || !is_valid_label(it->get_ref<const std::string&>(), max_name_length)) {
    reply_bad_request(self, req, "name must be a non-blank string of at most 200 characters");
    return false;
  }
  args["name"] = *it;
  return true;
}

/// `is_active` when the body has it: a boolean (null too is a 400).
bool read_is_active(handler_ptr self, const api_request& req, const json& body, json& args) {
  if (auto it = body.find("is_active"); it != body.end()) {
    if (!it->is_boolean()) {
      reply_bad_request(self, req, "is_active must be a boolean");
      return false;
    }
    args["is_active"] = *it;
  }
  return true;
}

void apps_endpoint(handler_ptr self, const api_request& req) {
  if (req.method == "POST") {
    auto body = body_object(self, req);
    if (!body)
      return;
    json args = json::object();
    // An app may be created disabled (since the twenty-eighth session; the
    // field was ignored before and the app came out active).
    if (!read_name(self, req, *body, true, args) || !read_is_active(self, req, *body, args))
      return;
    answer_query(self, req.serial, make_query(req, query_kind::app_create, {}, args));
    return;
  }
  json args = json::object();
  if (!page_args(self, req, query_kind::app_list, {}, args))
    return;
  answer_query(self, req.serial, make_query(req, query_kind::app_list, {}, args));
}

void app_endpoint(handler_ptr self, const api_request& req, const std::string& app) {
  if (req.method == "GET") {
    answer_query(self, req.serial, make_query(req, query_kind::app_get, app));
    return;
  }
  auto body = body_object(self, req);
  if (!body)
    return;
  json args = json::object();
  if (!read_name(self, req, *body, false, args) || !read_is_active(self, req, *body, args))
    return;
  answer_invalidating(self, req.serial, make_query(req, query_kind::app_patch, app, args),
                      "app disabled");
}

void dialpad_endpoint(handler_ptr self, const api_request& req, const std::string& app) {
  if (req.method == "GET") {
    answer_query(self, req.serial, make_query(req, query_kind::dialpad_get, app));
    return;
  }
  if (req.method == "DELETE") {
    // The refresher stops and the access token is revoked at Dialpad (best
    // effort, after the row is gone: the tokens are deleted whatever
    // Dialpad answers).
    answer_invalidating(self, req.serial, make_query(req, query_kind::dialpad_delete, app), {},
                        [self, app](const db_answer& ans) {
                          auto j = json::parse(ans.body, nullptr, false);
                          if (!j.is_object())
                            return;
                          const auto& sealed = j["access_sealed"];
                          self->send(self->state.ctx->dialpad, stop_atom_v, app,
                                     j.value("environment", "production"),
                                     sealed.is_string() ? sealed.get<std::string>() : std::string{});
                        });
    return;
  }
  auto body = body_object(self, req);
  if (!body)
    return;
  json args = json::object();
  if (auto it = body->find("dialpad_org_id"); it != body->end() && !it->is_null()) {
    auto org = json_dialpad_id(*it);
    if (!org) {
      reply_bad_request(self, req, "dialpad_org_id must be a positive integer");
      return;
    }
    args["dialpad_org_id"] = *org;
  }
  if (auto it = body->find("environment"); it != body->end() && !it->is_null()) {
    if (!it->is_string() || (*it != "sandbox" && *it != "production")) {
      reply_bad_request(self, req, "environment must be sandbox or production");
      return;
    }
    args["environment"] = *it;
  }
  if (auto it = body->find("allow_unsigned_webhooks"); it != body->end() && !it->is_null()) {
    if (!it->is_boolean()) {
      reply_bad_request(self, req, "allow_unsigned_webhooks must be a boolean");
      return;
    }
    args["allow_unsigned_webhooks"] = *it;
  }
  if (auto it = body->find("webhook_secret"); it != body->end() && !it->is_null()) {
    if (!it->is_string() || it->get_ref<const std::string&>().empty()
        || it->get_ref<const std::string&>().size() > max_webhook_secret_length) {
      reply_bad_request(self, req, "webhook_secret must be a string of 1 to 1024 bytes");
      return;
    }
    const auto& key = self->state.ctx->cfg.database_encryption_key;
    if (key.size() != 32) {
      reply(self, api_response::failure(req.serial, errc::internal,
                                        "DATABASE_ENCRYPTION_KEY is not configured"));
      return;
    }
    // Sealed here: the secret never travels to the database in the clear.
    args["webhook_secret_sealed"] = to_hex(seal(key, it->get_ref<const std::string&>(), app));
  }
  answer_invalidating(self, req.serial, make_query(req, query_kind::dialpad_put, app, args));
}

void api_key_create(handler_ptr self, const api_request& req, const std::string& app) {
  const auto& hashers = self->state.ctx->hashers;
  if (hashers.empty()) {
    reply(self, api_response::failure(req.serial, errc::internal, "no bcrypt worker"));
    return;
  }
  auto key = generate_api_key();
  auto serial = req.serial;
  auto request_id = req.request_id;
  auto hasher = hashers[random_bytes(1)[0] % hashers.size()];
  self->request(hasher, std::chrono::seconds{20}, hash_atom_v, key)
    .then(
      [self, serial, request_id, key, app](std::string& hash) {
        json args = {{"key_id", api_key_id(key)}, {"hash", hash}, {"hint", api_key_hint(key)}};
        db_query q;
        q.kind = query_kind::key_set;
        q.app_id = app;
        q.args = args.dump();
        q.request_id = request_id;
        answer_query_then(self, serial, std::move(q),
                          [self, key, app](db_answer& ans, std::function<void()> finish) {
                            // The one time the key is shown.
                            auto body = json::parse(ans.body);
                            nlohmann::ordered_json out;
                            out["api_key"] = key;
                            out["key_hint"] = body["key_hint"];
                            out["created_at"] = body["created_at"];
                            out["rotated"] = body["rotated"];
                            ans.body = out.dump();
                            self->request(self->state.ctx->registry, std::chrono::seconds{5},
                                          invalidate_atom_v, app)
                              .then(
                                [self, app, finish](bool) {
                                  // Sessions opened with the old key end.
                                  self->send(self->state.ctx->registry, close_atom_v, app,
                                             uint16_t{1008}, std::string{"key revoked"});
                                  finish();
                                },
                                [self, app, finish](caf::error&) {
                                  self->send(self->state.ctx->registry, close_atom_v, app,
                                             uint16_t{1008}, std::string{"key revoked"});
                                  finish();
                                });
                          });
      },
      [self, serial](caf::error& err) { reply_error(self, serial, err); });
}

/// One mapping entry; `where` prefixes error messages (e.g. "mappings[3].").
std::optional<json> read_mapping(const json& entry, const std::string& where, std::string& error) {
  if (!entry.is_object()) {
    // "mappings[3]." → "mappings[3] must be an object".
    error = (where.empty() ? std::string{"the mapping"} : where.substr(0, where.size() - 1))
            + " must be an object";
    return std::nullopt;
  }
  auto d = entry.find("dialpad_user_id");
  auto dialpad = d == entry.end() ? std::nullopt : json_dialpad_id(*d);
  if (!dialpad) {
    error = where + "dialpad_user_id must be a positive integer";
    return std::nullopt;
  }
  auto c = entry.find("crm_user_id");
  if (c == entry.end() || !c->is_string()
      || !is_valid_label(c->get_ref<const std::string&>(), max_crm_id_length)) {
    error = where + "crm_user_id must be a non-blank string of at most 255 characters";
    return std::nullopt;
  }
  return json{{"dialpad_user_id", *dialpad}, {"crm_user_id", *c}};
}

void map_endpoint(handler_ptr self, const api_request& req, const std::string& app) {
  auto body = body_object(self, req);
  if (!body)
    return;
  std::string error;
  auto m = read_mapping(*body, "", error);
  if (!m) {
    reply_bad_request(self, req, std::move(error));
    return;
  }
  answer_query(self, req.serial, make_query(req, query_kind::map_one, app, *m));
}

void batch_map_endpoint(handler_ptr self, const api_request& req, const std::string& app) {
  auto body = body_object(self, req);
  if (!body)
    return;
  auto list = body->find("mappings");
  if (list == body->end() || !list->is_array() || list->empty()
      || list->size() > max_batch_mappings) {
    reply_bad_request(self, req, "mappings must be an array of 1 to 1000 mappings");
    return;
  }
  // All or nothing: one bad entry refuses the whole batch. A Dialpad user
  // named twice keeps the last entry (one row can be written once). Rows go
  // to the database ordered by Dialpad user id, so two batches naming the
  // same users lock their rows in the same order and never deadlock.
  std::map<int64_t, json> by_user;
  for (std::size_t i = 0; i < list->size(); ++i) {
    std::string error;
    auto m = read_mapping((*list)[i], "mappings[" + std::to_string(i) + "].", error);
    if (!m) {
      reply_bad_request(self, req, std::move(error));
      return;
    }
    auto id = (*m)["dialpad_user_id"].get<int64_t>();
    by_user.insert_or_assign(id, std::move(*m));
  }
  json rows = json::array();
  for (auto& [id, m] : by_user)
    rows.push_back(std::move(m));
  answer_query(self, req.serial,
               make_query(req, query_kind::map_batch, app, json{{"mappings", rows}}));
}

/// POST /internal/apps/{id}/dialpad/sync {"since"}: records the job as
/// running, answers 202 with its id, and hands it to the Dialpad actor.
void dialpad_sync_endpoint(handler_ptr self, const api_request& req, const std::string& app) {
  auto body = body_object(self, req);
  if (!body)
    return;
  auto since = body->find("since");
  std::optional<timestamp> t;
  if (since != body->end() && since->is_string())
    t = parse_rfc3339(since->get_ref<const std::string&>());
  if (!t) {
    reply_bad_request(self, req, "since must be an RFC 3339 time");
    return;
  }
  auto job = new_uuid();
  int64_t since_us = t->time_since_epoch().count();
  answer_query_then(self, req.serial,
                    make_query(req, query_kind::dialpad_sync_start, app,
                               json{{"job_id", job}, {"since_us", since_us}}),
                    [self, app, job, since_us](db_answer&, std::function<void()> finish) {
                      self->send(self->state.ctx->dialpad, sync_atom_v, app, job, since_us);
                      finish();
                    });
}

/// POST /internal/apps/{id}/erase {"phone_number"}.
void erase_endpoint(handler_ptr self, const api_request& req, const std::string& app) {
  auto body = body_object(self, req);
  if (!body)
    return;
  auto it = body->find("phone_number");
  std::string number;
  if (it != body->end() && it->is_string())
    number = normalize_phone(it->get_ref<const std::string&>());
  if (number.empty() || number.size() > 32 || digits_of(number).size() < 3
      || number.find_first_not_of("+0123456789") != std::string::npos
      || number.find('+', 1) != std::string::npos) {
    reply_bad_request(self, req, "phone_number must be a phone number");
    return;
  }
  // E.164 before matching: a number without a country code is read as a
  // North American one when it has 10 digits (+1, Dialpad's home market) or
  // 11 starting with 1; the number as given is matched as well.
  std::string e164 = number;
  if (number[0] != '+') {
    if (number.size() == 10)
      e164 = "+1" + number;
    else
      e164 = "+" + number;
  }
  // The spellings a record may hold, the ones domain/redact matches in the
  // payloads (phone_matches): the E.164 form, the number as given, its
  // digits without the `+`, and for a North American number (+1 and 10
  // digits) its national form ("555.444.0008" is stored as 5554440008).
  // Only there: the last digits of another country's number are another
  // person's number.
  json spellings = json::array({e164});
  auto add = [&spellings](const std::string& s) {
    if (std::find(spellings.begin(), spellings.end(), s) == spellings.end())
      spellings.push_back(s);
  };
  add(number);
  auto digits = digits_of(e164);
  add(digits);
  if (digits.size() == 11 && digits[0] == '1')
    add(digits.substr(1));
  answer_query(self, req.serial,
               make_query(req, query_kind::erase, app,
                          json{{"phone_number", e164}, {"spellings", spellings}}));
}

/// GET|PUT /internal/apps/{id}/retention.
void retention_endpoint(handler_ptr self, const api_request& req, const std::string& app) {
  if (req.method == "GET") {
    answer_query(self, req.serial, make_query(req, query_kind::retention_get, app));
    return;
  }
  auto body = body_object(self, req);
  if (!body)
    return;
  json args = json::object();
  for (const char* field : {"calls_days", "voicemails_archive_days", "messages_days",
                            "webhook_events_days"}) {
    auto it = body->find(field);
    if (it == body->end())
      continue;
    if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > 36500) {
      reply_bad_request(self, req, std::string{field} + " must be a whole number of days, 1..36500");
      return;
    }
    args[field] = it->get<int64_t>();
  }
  if (args.empty()) {
    reply_bad_request(self, req, "give at least one of calls_days, voicemails_archive_days,"
                                 " messages_days, webhook_events_days");
    return;
  }
  answer_query(self, req.serial, make_query(req, query_kind::retention_put, app, args));
}

/// GET /internal/audit?app_id=.
void audit_endpoint(handler_ptr self, const api_request& req) {
  std::string app;
  if (const auto* raw = req.query_param("app_id"); raw != nullptr && !raw->empty()) {
    if (!is_uuid(*raw)) {
      reply_bad_request(self, req, "app_id must be a UUID");
      return;
    }
    app = lowercase_uuid(*raw);
  }
  json args = json::object();
  if (!page_args(self, req, query_kind::audit_list, app, args))
    return;
  answer_query(self, req.serial, make_query(req, query_kind::audit_list, app, args));
}

/// POST /internal/retention/run: the retention job, now.
void retention_run_endpoint(handler_ptr self, const api_request& req) {
  auto serial = req.serial;
  self->request(self->state.ctx->retention, std::chrono::minutes{10}, retention_atom_v)
    .then([self, serial](std::string& counts) {
            reply(self, api_response::json(serial, 200, std::move(counts)));
          },
          [self, serial](caf::error& err) { reply_error(self, serial, err); });
}

} // namespace

void handle_internal_apps(handler_ptr self, const api_request& req) {
  if (!check_internal(self, req))
    return;
  if (req.route == endpoint::apps) {
    apps_endpoint(self, req);
    return;
  }
  if (req.route == endpoint::audit) {
    audit_endpoint(self, req);
    return;
  }
  if (req.route == endpoint::retention_run) {
    retention_run_endpoint(self, req);
    return;
  }
  auto app = uuid_param(self, req, "app_id", "app");
  if (!app)
    return;
  json args = json::object();
  switch (req.route) {
    case endpoint::app:
      app_endpoint(self, req, *app);
      return;
    case endpoint::app_dialpad_sync:
      dialpad_sync_endpoint(self, req, *app);
      return;
    case endpoint::app_erase:
      erase_endpoint(self, req, *app);
      return;
    case endpoint::app_retention:
      retention_endpoint(self, req, *app);
      return;
    case endpoint::app_dialpad:
      dialpad_endpoint(self, req, *app);
      return;
    case endpoint::api_key:
      api_key_create(self, req, *app);
      return;
    case endpoint::api_key_revoke:
      answer_invalidating(self, req.serial, make_query(req, query_kind::key_revoke, *app),
                          "key revoked");
      return;
    case endpoint::api_key_status:
      answer_query(self, req.serial, make_query(req, query_kind::key_status, *app));
      return;
    case endpoint::api_key_audit:
      if (page_args(self, req, query_kind::key_audit, *app, args))
        answer_query(self, req.serial, make_query(req, query_kind::key_audit, *app, args));
      return;
    case endpoint::user_map:
      map_endpoint(self, req, *app);
      return;
    case endpoint::user_batch_map:
      batch_map_endpoint(self, req, *app);
      return;
    case endpoint::user_mappings:
      if (page_args(self, req, query_kind::mappings_list, *app, args))
        answer_query(self, req.serial, make_query(req, query_kind::mappings_list, *app, args));
      return;
    case endpoint::user_mapping_dialpad: {
      const auto* raw = req.path_param("dialpad_user_id");
      auto id = raw ? parse_dialpad_id(*raw) : std::nullopt;
      if (!id) {
        reply(self, api_response::failure(req.serial, errc::not_found,
                                          "no mapping for this Dialpad user"));
        return;
      }
      answer_query(self, req.serial, make_query(req, query_kind::mapping_by_dialpad, *app,
                                                args, std::to_string(*id)));
      return;
    }
    case endpoint::user_mapping_crm: {
      const auto* crm = req.path_param("crm_user_id");
      if (crm == nullptr || !is_valid_label(*crm, max_crm_id_length)) {
        reply_bad_request(self, req, "crm_user_id must be a non-blank string of at most 255 characters");
        return;
      }
      if (!page_args(self, req, query_kind::mappings_by_crm, *app, args))
        return;
      args["crm_user_id"] = *crm;
      answer_query(self, req.serial, make_query(req, query_kind::mappings_by_crm, *app, args));
      return;
    }
    case endpoint::user_mapping: {
      auto id = uuid_param(self, req, "id", "mapping");
      if (id)
        answer_query(self, req.serial,
                     make_query(req, query_kind::mapping_delete, *app, args, *id));
      return;
    }
    case endpoint::internal_voicemails:
      // The app API's list, for any app: the same filters.
      if (!read_voicemail_filters(self, req, args)
          || !page_args(self, req, query_kind::voicemails_list, *app, args))
        return;
      args["check_app"] = true;
      answer_query(self, req.serial, make_query(req, query_kind::voicemails_list, *app, args));
      return;
    case endpoint::internal_voicemail: {
      auto id = uuid_param(self, req, "id", "voicemail");
      if (!id)
        return;
      auto kind = req.method == "DELETE" ? query_kind::voicemail_delete : query_kind::voicemail_get;
      answer_query(self, req.serial, make_query(req, kind, *app, args, *id));
      return;
    }
    default:
      reply(self, api_response::failure(req.serial, errc::not_found, "no such endpoint"));
  }
}

} // namespace cti
