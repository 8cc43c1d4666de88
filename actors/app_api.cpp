// App API (x-app-api-key): calls, voicemails, messages, the CDR export and
// screen pop. Every parameter is validated here (400 naming it); the
// database sees only valid values (db/api_repo.hpp). Another app's resource
// is 404, exactly like a missing one: every query is scoped to the app the
// key belongs to.

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "actors/http_handler_state.hpp"
#include "db/api_repo.hpp"
#include "domain/csv.hpp"
#include "domain/event_model.hpp"
#include "domain/log.hpp"
#include "domain/pagination.hpp"
#include "domain/phone.hpp"
#include "domain/time_format.hpp"
#include "domain/url.hpp"
#include "domain/uuid.hpp"
#include "domain/validation.hpp"
#include "domain/webhook_intake.hpp"

namespace cti {

namespace {

using json = nlohmann::json;

/// Largest `crm_context`, as compact JSON.
constexpr std::size_t max_crm_context_bytes = 16 * 1024;
/// Rows per database page of an export.
constexpr int export_page_rows = 500;

/// Validates the query parameters in `names` into `args`; false after
/// answering 400 naming the first bad one.
bool read_filters(handler_ptr self, const api_request& req, std::initializer_list<const char*> names,
                  json& args) {
  for (const char* name : names) {
    const auto* v = req.query_param(name);
    if (v == nullptr)
      continue;
    std::string n = name;
    auto bad = [&](const std::string& what) {
      reply_bad_request(self, req, n + " " + what);
      return false;
    };
    if (!utf8_length(*v) || v->find('\0') != std::string::npos)
      return bad("must be valid UTF-8 text");
    if (n == "status") {
      auto list = parse_status_list(*v);
      if (!list)
        return bad("must be a comma list of ringing, active, held, ended, missed, rejected, voicemail");
      args["status"] = *list;
    } else if (n == "direction") {
      auto d = normalize_direction(ascii_lower(*v));
      if (!d)
        return bad("must be inbound or outbound");
      args["direction"] = *d;
    } else if (n == "phone" || n == "from_number" || n == "to_number") {
      // Digits, after an optional '+', once spaces, dots, dashes and
      // parentheses are gone (stored numbers are normalized the same way).
      // A '+' after the first character stands for a space (form
      // encoding: `%2B1+555+777+0000`); only a leading one is the number's.
      std::string text;
      const auto lead = v->find_first_not_of(" \t");
      for (std::size_t i = 0; i < v->size(); ++i)
        if ((*v)[i] != '+' || i == lead)
          text += (*v)[i];
      auto p = normalize_phone(text);
      auto digits = p.substr(p.starts_with('+') ? 1 : 0);
      if (digits.empty() || p.size() > 64
          || digits.find_first_not_of("0123456789") != std::string::npos)
        return bad("must be a phone number");
      args[n] = p;
    } else if (n == "dialpad_user_id") {
      auto id = parse_dialpad_id(*v);
      if (!id)
        return bad("must be a positive integer");
      args[n] = *id;
    } else if (n == "crm_user_id") {
      if (!is_valid_label(*v, max_crm_id_length))
        return bad("must be a non-blank string of at most 255 characters");
      args[n] = *v;
    } else if (n == "since" || n == "until") {
      // Rows are stamped in microseconds: a finer bound rounds up (since is
      // inclusive, until exclusive: both then compare exactly).
      auto t = parse_rfc3339(*v, true);
      if (!t)
        return bad("must be an RFC 3339 time, e.g. 2026-01-28T10:30:00.000Z");
      args[n + "_us"] = t->time_since_epoch().count();
    } else if (n == "callback_status") {
      if (!is_callback_status(*v))
        return bad("must be pending, in_progress or done");
      args[n] = *v;
    }
  }
  return true;
}

constexpr auto call_filters = {"status", "direction", "phone", "from_number", "to_number",
                               "dialpad_user_id", "crm_user_id", "since", "until"};

void list_calls(handler_ptr self, const api_request& req, const std::string& app, bool active) {
  json args = json::object();
  if (!read_filters(self, req, call_filters, args)
      || !page_args(self, req, query_kind::calls_list, app, args))
    return;
  if (active)
    args["active"] = true;
  answer_query(self, req.serial, make_query(req, query_kind::calls_list, app, args));
}

/// `{id}`: our UUID or the numeric Dialpad call id; anything else names nothing.
std::optional<std::string> call_target(const api_request& req) {
  const auto* raw = req.path_param("id");
  if (raw == nullptr)
    return std::nullopt;
  if (is_uuid(*raw))
    return lowercase_uuid(*raw);
  if (auto n = parse_dialpad_id(*raw))
    return std::to_string(*n);
  return std::nullopt;
}

void call_endpoint(handler_ptr self, const api_request& req, const std::string& app) {
  auto target = call_target(req);
  if (!target) {
    auto resp = api_response::failure(req.serial, errc::not_found, "no such call");
    resp.app_id = app;
    reply(self, std::move(resp));
    return;
  }
  if (req.method == "GET") {
    answer_query(self, req.serial, make_query(req, query_kind::call_get, app, json::object(), *target));
    return;
  }
  auto body = body_object(self, req);
  if (!body)
    return;
  auto ctx = body->find("crm_context");
  if (ctx == body->end() || !(ctx->is_object() || ctx->is_null())) {
    reply_bad_request(self, req, "crm_context must be a JSON object or null");
    return;
  }
  if (ctx->is_object() && contains_nul(*ctx)) {
    reply_bad_request(self, req, "crm_context must not contain \\u0000");
    return;
  }
  // Stored as compact JSON text with the keys in the client's order (the
  // body was checked above; nlohmann::json would sort the keys).
  json args = {{"crm_context_text", nullptr}};
  if (ctx->is_object()) {
    auto ordered = nlohmann::ordered_json::parse(req.body, nullptr, false);
    auto text = ordered.is_object() && ordered.contains("crm_context")
                  ? ordered["crm_context"].dump(-1, ' ', false,
                                                nlohmann::ordered_json::error_handler_t::replace)
                  : ctx->dump();
    if (text.size() > max_crm_context_bytes) {
      reply(self, api_response::failure(req.serial, errc::payload_too_large,
                                        "crm_context is larger than 16 KiB"));
      return;
    }
    args["crm_context_text"] = std::move(text);
  }
  answer_query(self, req.serial, make_query(req, query_kind::call_patch, app, args, *target));
}

void voicemail_endpoint(handler_ptr self, const api_request& req, const std::string& app) {
  auto id = uuid_param(self, req, "id", "voicemail");
  if (!id)
    return;
  if (req.method == "GET") {
    answer_query(self, req.serial, make_query(req, query_kind::voicemail_get, app, json::object(), *id));
    return;
  }
  auto body = body_object(self, req);
  if (!body)
    return;
  json args = json::object();
  if (auto it = body->find("callback_status"); it != body->end()) {
    if (!it->is_string() || !is_callback_status(it->get_ref<const std::string&>())) {
      reply_bad_request(self, req, "callback_status must be pending, in_progress or done");
      return;
    }
    args["callback_status"] = *it;
  }
  if (auto it = body->find("crm_task_id"); it != body->end()) {
    // A CRM's task id may be a number: kept as its decimal text (served as a string).
    if (it->is_number_integer()) {
      args["crm_task_id"] = it->dump();
    } else if (it->is_null()
               || (it->is_string() && is_valid_label(it->get_ref<const std::string&>(), max_crm_id_length))) {
      args["crm_task_id"] = *it;
    } else {
      reply_bad_request(self, req,
                        "crm_task_id must be a non-blank string of at most 255 characters, an integer,"
                        " or null");
      return;
    }
  }
  if (args.empty()) {
    reply_bad_request(self, req, "callback_status or crm_task_id is required");
    return;
  }
  answer_query(self, req.serial, make_query(req, query_kind::voicemail_patch, app, args, *id));
}

void screen_pop(handler_ptr self, const api_request& req, const std::string& app) {
  auto body = body_object(self, req);
  if (!body)
    return;
  auto u = body->find("dialpad_user_id");
  if (u == body->end() || !json_dialpad_id(*u)) {
    reply_bad_request(self, req, "dialpad_user_id must be a positive integer");
    return;
  }
  auto uri = body->find("screen_pop_uri");
  if (uri == body->end() || !uri->is_string() || !is_screen_pop_uri(uri->get_ref<const std::string&>())) {
    reply_bad_request(self, req,
                      "screen_pop_uri must be an absolute URI (scheme:…, no spaces) of at most 2048"
                      " characters");
    return;
  }
  auto serial = req.serial;
  // The app's own token only: the Dialpad actor looks it up by this app id.
  self->request(self->state.ctx->dialpad, std::chrono::seconds{60}, screen_pop_atom_v, serial,
                app, *json_dialpad_id(*u), uri->get<std::string>())
    .then([self](api_response& resp) { reply(self, std::move(resp)); },
          [self, serial](caf::error& err) { reply_error(self, serial, err); });
}

// -- export ---------------------------------------------------------------------------

/// The call object's fields, in the contract's order (the CSV header).
const std::vector<std::string>& call_fields() {
  static const std::vector<std::string> fields = {
    "id", "dialpad_call_id", "direction", "from_number", "to_number", "status",
    "dialpad_user_id", "crm_user_id", "started_at", "answered_at", "ended_at",
    "duration_seconds", "recording_url", "has_voicemail", "crm_context", "created_at",
    "updated_at"};
  return fields;
}

void append_csv_value(std::string& out, const nlohmann::ordered_json& v) {
  if (v.is_null())
    return;
  if (v.is_string())
    append_csv_field(out, v.get_ref<const std::string&>());
  else if (v.is_boolean())
    out += v.get<bool>() ? "true" : "false";
  else if (v.is_number())
    out += v.dump();
  else
    append_csv_field(out, v.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
}

/// One export in progress: pages read one at a time, each written before
/// the next is read, so memory holds a page whatever the export's size.
struct export_state {
  static inline const char* name = "call_export";
  std::shared_ptr<const node_context> ctx;
  std::weak_ptr<session_sink> sink;
  db_query query;
  json args;
  bool csv = true;
  std::string scope;
  uint64_t serial = 0; ///< The export request's (its chunks carry it).
};

using exporter_actor = caf::typed_actor<caf::reacts_to<flush_atom, bool>>;
using exporter_ptr = exporter_actor::stateful_pointer<export_state>;

/// Appends one CSV row: `cell(out, field)` for each call field, in order.
template <class Cell>
void append_csv_row(std::string& out, Cell cell) {
  bool first = true;
  for (const auto& f : call_fields()) {
    if (!first)
      out += ',';
    first = false;
    cell(out, f);
  }
  append_csv_row_end(out);
}

/// Appends the rows of one page of calls to `chunk`.
void append_page_rows(std::string& chunk, const nlohmann::ordered_json& page, bool csv) {
  for (const auto& obj : page["data"]) {
    if (csv) {
      append_csv_row(chunk, [&obj](std::string& out, const auto& f) { append_csv_value(out, obj[f]); });
    } else {
      chunk += obj.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
      chunk += '\n';
    }
  }
}

/// Writes `chunk` (ending with the rows of `page_body`) and moves the
/// export past that page; the exporter is told when it was written.
void write_page(exporter_ptr self, std::string chunk, const std::string& page_body) {
  auto& st = self->state;
  auto sink = st.sink.lock();
  if (!sink) {
    self->quit();
    return;
  }
  // Ordered: NDJSON lines keep the call object's field order.
  auto page = nlohmann::ordered_json::parse(page_body);
  append_page_rows(chunk, page, st.csv);
  bool last = !page["has_more"].get<bool>();
  if (!last) {
    auto next = decode_cursor(page["next_cursor"].get<std::string>(), st.scope);
    st.args["after_us"] = next->time_us;
    st.args["after_id"] = next->id;
  }
  exporter_actor me = self;
  // After the last chunk, "not ok" is what stops the exporter (an exit
  // message with reason normal would be ignored).
  sink->write_chunk(stream_chunk{std::move(chunk), last, st.serial}, [me, last](bool ok) {
    caf::anon_send(me, flush_atom_v, ok && !last);
  });
}

/// Streams the export whose first page (`first_page`) was read before the
/// 200 went out: a database that is away answers 503, not a cut stream.
exporter_actor::behavior_type exporter(exporter_ptr self, std::shared_ptr<const node_context> ctx,
                                       std::weak_ptr<session_sink> sink, db_query q, bool csv,
                                       uint64_t serial, std::string first_page) {
  auto& st = self->state;
  st.serial = serial;
  st.ctx = std::move(ctx);
  st.sink = std::move(sink);
  st.args = json::parse(q.args);
  st.query = std::move(q);
  st.csv = csv;
  st.scope = db::cursor_scope(query_kind::calls_list, st.query.app_id);
  std::string header;
  if (csv)
    append_csv_row(header, [](std::string& out, const auto& f) { append_csv_field(out, f); });
  write_page(self, std::move(header), first_page);
  return {
    // The previous chunk was written (ok) or the client went away: fetch
    // and write the next page, or stop.
    [self](flush_atom, bool ok) {
      auto& st = self->state;
      if (!ok) {
        self->quit();
        return;
      }
      auto q = st.query;
      q.args = st.args.dump();
      // Shorter than the session's 30 s stall watchdog.
      self->request(st.ctx->pool, std::chrono::seconds{25}, query_atom_v, std::move(q))
        .then([self](db_answer& ans) { write_page(self, {}, ans.body); },
              [self](caf::error& err) {
                log::warn("call export failed", {{"error", message_of(err)}});
                // Headers are gone already: the only honest signal left is
                // to cut the stream short (no terminating chunk).
                if (auto sink = self->state.sink.lock())
                  sink->close(0);
                self->quit();
              });
    },
  };
}

void export_calls(handler_ptr self, const api_request& req, const std::string& app) {
  std::string format = "csv";
  if (const auto* f = req.query_param("format")) {
    if (*f != "csv" && *f != "ndjson") {
      reply_bad_request(self, req, "format must be csv or ndjson");
      return;
    }
    format = *f;
  }
  json args = json::object();
  if (!read_filters(self, req, {"since", "until"}, args))
    return;
  args["limit"] = export_page_rows;
  bool csv = format == "csv";
  api_response head;
  head.serial = req.serial;
  head.status = 200;
  head.app_id = app;
  head.content_type = csv ? "text/csv; charset=utf-8" : "application/x-ndjson";
  head.headers.push_back({"Content-Disposition",
                          std::string{"attachment; filename=\"calls."} + format + "\""});
  auto q = make_query(req, query_kind::calls_list, app, args);
  auto serial = req.serial;
  // The first page is read before the 200: until then every failure has
  // its own status.
  self->request(self->state.ctx->pool, std::chrono::seconds{25}, query_atom_v, q)
    .then(
      [self, q, csv, head](db_answer& ans) mutable {
        auto sink = self->state.sink.lock();
        if (!sink)
          return;
        auto serial = head.serial;
        // (When the request has timed out meanwhile, the session ignores
        // the head and refuses the chunks: they carry this serial.)
        sink->begin_stream(std::move(head));
        self->system().spawn(exporter, self->state.ctx, self->state.sink, std::move(q), csv,
                             serial, std::move(ans.body));
      },
      [self, serial](caf::error& err) { reply_error(self, serial, err); });
}

} // namespace

bool read_voicemail_filters(handler_ptr self, const api_request& req, json& args) {
  return read_filters(self, req, {"dialpad_user_id", "crm_user_id", "since", "until", "callback_status"},
                      args);
}

void handle_app_api(handler_ptr self, const api_request& req) {
  with_app(self, req, [self, req](const std::string& app) {
    json args = json::object();
    switch (req.route) {
      case endpoint::calls:
        list_calls(self, req, app, false);
        return;
      case endpoint::calls_active:
        list_calls(self, req, app, true);
        return;
      case endpoint::calls_export:
        export_calls(self, req, app);
        return;
      case endpoint::call:
        call_endpoint(self, req, app);
        return;
      case endpoint::voicemails:
        if (read_voicemail_filters(self, req, args)
            && page_args(self, req, query_kind::voicemails_list, app, args))
          answer_query(self, req.serial, make_query(req, query_kind::voicemails_list, app, args));
        return;
      case endpoint::voicemail:
        voicemail_endpoint(self, req, app);
        return;
      case endpoint::messages:
        if (read_filters(self, req,
                         {"direction", "phone", "from_number", "to_number", "dialpad_user_id",
                          "crm_user_id", "since", "until"},
                         args)
            && page_args(self, req, query_kind::messages_list, app, args))
          answer_query(self, req.serial, make_query(req, query_kind::messages_list, app, args));
        return;
      case endpoint::screen_pop:
        screen_pop(self, req, app);
        return;
      default:
        reply(self, api_response::failure(req.serial, errc::not_found, "no such endpoint"));
    }
  });
}

} // namespace cti
