#include "domain/event_model.hpp"

#include <charconv>
#include <climits>
#include <cmath>
#include <initializer_list>

#include <nlohmann/json.hpp>

#include "domain/crypto.hpp"
#include "domain/phone.hpp"
#include "domain/redact.hpp"
#include "domain/validation.hpp"
#include "domain/webhook_intake.hpp"

namespace cti {

namespace {

using json = nlohmann::json;

/// Latest epoch millisecond we accept: 9999-12-31T23:59:59.999Z.
constexpr int64_t max_epoch_ms = 253402300799999;

/// The member `key` of `j` when `j` is an object that has it.
const json* member(const json* j, const char* key) {
  if (j == nullptr || !j->is_object())
    return nullptr;
  auto it = j->find(key);
  return it == j->end() ? nullptr : &*it;
}

const json* member(const json& j, const char* key) {
  return member(&j, key);
}

/// A non-empty string value; anything else is absent.
std::optional<std::string> text_of(const json* v) {
  if (v == nullptr || !v->is_string())
    return std::nullopt;
  const auto& s = v->get_ref<const std::string&>();
  if (s.empty())
    return std::nullopt;
  return s;
}

/// The first of `keys` in `j` that holds a non-empty string.
std::optional<std::string> first_text(const json& j, std::initializer_list<const char*> keys) {
  for (const char* key : keys)
    if (auto s = text_of(member(j, key)))
      return s;
  return std::nullopt;
}

std::optional<int64_t> int_of(const json* v) {
  return v == nullptr ? std::nullopt : json_int64(*v);
}

/// The first of `keys` in `j` readable as an int64.
std::optional<int64_t> first_int(const json& j, std::initializer_list<const char*> keys) {
  for (const char* key : keys)
    if (auto n = int_of(member(j, key)))
      return n;
  return std::nullopt;
}

/// `t` when it lies in the range epoch milliseconds are accepted from
/// (1970 to the end of year 9999, UTC): an RFC 3339 time with an offset can
/// fall outside it ("0000-01-01T00:00:00Z", "9999-12-31T23:59:59-01:00"), and
/// such a time stored on a call could not be written as RFC 3339 again.
/// Truncated to the millisecond: times are served with milliseconds, and
/// lists ordered by a time break its ties by id, which must hold for the
/// times a client sees (a seed `timestamp` may carry more digits).
std::optional<timestamp> representable(std::optional<timestamp> t) {
  if (!t)
    return t;
  auto us = t->time_since_epoch().count();
  if (us < 0 || us > max_epoch_ms * 1000 + 999)
    return std::nullopt;
  return timestamp{std::chrono::microseconds{us - us % 1000}};
}

/// Epoch milliseconds (integer, numeric string or finite float) as a
/// timestamp. 0 is "not set", as a payload writes an unknown time, not the
/// first millisecond of 1970: taken as a time, a `date_started` of 0 moved a
/// call to 1970, and a `date_ended` of 0 ended a live one.
std::optional<timestamp> epoch_ms_of(const json* v) {
  if (v == nullptr)
    return std::nullopt;
  if (v->is_number_float()) {
    double d = v->get<double>();
    if (!std::isfinite(d) || d < 1 || d > static_cast<double>(max_epoch_ms))
      return std::nullopt;
    return timestamp{std::chrono::microseconds{static_cast<int64_t>(std::floor(d)) * 1000}};
  }
  auto ms = json_int64(*v);
  if (!ms || *ms <= 0 || *ms > max_epoch_ms)
    return std::nullopt;
  return timestamp{std::chrono::microseconds{*ms * 1000}};
}

/// `read` from `v`, noting in `ev` a time that was given but not readable:
/// null, 0 and "" write "not known" and are not noted.
std::optional<timestamp> noted(const json* v, std::optional<timestamp> read, const char* field,
                               event_data& ev) {
  if (read || v == nullptr || v->is_null() || !ev.unreadable_time.empty())
    return read;
  auto as_int = json_int64(*v);
  bool unknown = (v->is_string() && v->get_ref<const std::string&>().empty())
                 || (v->is_number() && v->get<double>() == 0) || (as_int && *as_int == 0);
  if (!unknown)
    ev.unreadable_time = field;
  return read;
}

/// A non-negative JSON number of `unit`s per second, rounded half up to whole
/// seconds; nothing for other types, negatives and values past INT_MAX seconds.
std::optional<int> seconds_of(const json* v, int64_t unit) {
  if (v == nullptr)
    return std::nullopt;
  int64_t seconds = 0;
  if (v->is_number_unsigned()) {
    auto u = v->get<uint64_t>();
    auto whole = u / static_cast<uint64_t>(unit);
    if (whole > static_cast<uint64_t>(INT_MAX))
      return std::nullopt;
    seconds = static_cast<int64_t>(whole) + (u % static_cast<uint64_t>(unit) * 2 >= static_cast<uint64_t>(unit));
  } else if (v->is_number_integer()) {
    auto n = v->get<int64_t>();
    if (n < 0)
      return std::nullopt;
    seconds = n / unit + (n % unit * 2 >= unit);
  } else if (v->is_number_float()) {
    double d = v->get<double>();
    if (!std::isfinite(d) || d < 0 || d / static_cast<double>(unit) > INT_MAX)
      return std::nullopt;
    seconds = static_cast<int64_t>(std::floor(d / static_cast<double>(unit) + 0.5));
  } else {
    return std::nullopt;
  }
  if (seconds > INT_MAX)
    return std::nullopt;
  return static_cast<int>(seconds);
}

/// A phone number: a non-empty string, or the first element of an array
/// when that is one (Dialpad SMS `to_number`).
std::optional<std::string> number_of(const json* v) {
  auto raw = v != nullptr && v->is_array() ? (v->empty() ? std::nullopt : text_of(&v->front()))
                                           : text_of(v);
  // Stored normalized (API.md: numbers are compared after normalization),
  // so that filters are plain equality on an index.
  // An erased number (POST …/erase redacts the stored payload) is no
  // number: a replayed event must not bring "[redacted]" back as one.
  if (!raw || *raw == redacted_text)
    return std::nullopt;
  auto n = normalize_phone(*raw);
  // Longer is no phone number (E.164 has 15 digits; a SIP address or an
  // extension fits easily): kept, it would fail the number indexes
  // (a B-tree row holds ~2.7 kB) and with them the whole event.
  if (n.empty() || n.size() > max_phone_length)
    return std::nullopt;
  return n;
}

/// The seed type field, when the payload has one.
std::optional<std::string> seed_type(const json& payload) {
  return first_text(payload, {"event_type", "type", "event"});
}

/// The Dialpad `state`, when it is a non-empty string.
std::optional<std::string> dialpad_state(const json& payload) {
  return text_of(member(payload, "state"));
}

/// API.md's state table.
std::string type_for_state(std::string_view state) {
  if (state == "calling" || state == "ringing" || state == "preanswer" || state == "queued")
    return "call.ring";
  if (state == "connected")
    return "call.started";
  if (state == "hold" || state == "parked")
    return "call.held";
  if (state == "hangup")
    return "call.ended";
  if (state == "missed")
    return "call.missed";
  if (state == "blocked")
    return "call.rejected";
  if (state == "voicemail" || state == "voicemail_uploaded" || state == "transcription")
    return "voicemail.received";
  if (state == "recording" || state == "admin_recording")
    return "call.recording.completed";
  return "call.updated";
}

/// The normalized direction of a Dialpad SMS payload (no state, an int64 `id`,
/// a string `from_number`, a direction that normalizes); nothing otherwise.
std::optional<std::string> sms_direction(const json& payload) {
  if (dialpad_state(payload) || !int_of(member(payload, "id"))
      || !text_of(member(payload, "from_number")))
    return std::nullopt;
  auto raw = text_of(member(payload, "direction"));
  return raw ? normalize_direction(*raw) : std::nullopt;
}

/// A seed id field: a non-empty string, or an integer number in decimal.
std::optional<std::string> id_text(const json* v) {
  if (v == nullptr)
    return std::nullopt;
  if (v->is_number_unsigned())
    return std::to_string(v->get<uint64_t>());
  if (v->is_number_integer())
    return std::to_string(v->get<int64_t>());
  return text_of(v);
}

/// Decimal text of an int64 field, empty when missing or unreadable.
std::string int_text(const json* v) {
  auto n = int_of(v);
  return n ? std::to_string(*n) : std::string{};
}

bool is_user_target(const json* target) {
  auto type = text_of(member(target, "type"));
  return type && *type == "user";
}

/// The `recording_details` entry's kind (`recording_type`, else `type`).
std::optional<std::string> recording_kind(const json& entry) {
  return first_text(entry, {"recording_type", "type"});
}

/// The first `recording_details` entry with a URL that is (or is not) a voicemail.
const json* recording_entry(const json& payload, bool voicemail) {
  const json* details = member(payload, "recording_details");
  if (details == nullptr || !details->is_array())
    return nullptr;
  for (const auto& entry : *details) {
    if (!entry.is_object() || !text_of(member(entry, "url")))
      continue;
    auto kind = recording_kind(entry);
    if ((kind && *kind == "voicemail") == voicemail)
      return &entry;
  }
  return nullptr;
}

void extract_user(const json& payload, event_data& ev) {
  const json* target = member(payload, "target");
  if (!is_user_target(target))
    return;
  if (!ev.dialpad_user_id)
    ev.dialpad_user_id = int_of(member(target, "id"));
  // An erased value ("[redacted]", see number_of) is no value: a replayed
  // event must not write the marker over the stored user.
  auto kept = [](std::optional<std::string> v) {
    return v && *v == redacted_text ? std::nullopt : v;
  };
  ev.user_name = kept(text_of(member(target, "name")));
  ev.user_email = kept(text_of(member(target, "email")));
  ev.user_phone = kept(first_text(*target, {"phone", "phone_number"}));
  ev.user_office_id = int_of(member(target, "office_id"));
}

void extract_seed(const json& payload, event_data& ev) {
  const bool voicemail = ev.event_type == "voicemail.received";
  ev.dialpad_call_id = first_int(payload, {"dialpad_call_id", "call_id"});
  if (!ev.dialpad_call_id)
    ev.dialpad_call_id = int_of(member(member(payload, "call"), "id"));
  ev.from_number = number_of(member(payload, "from_number"));
  if (!ev.from_number)
    ev.from_number = number_of(member(payload, "from"));
  ev.to_number = number_of(member(payload, "to_number"));
  if (!ev.to_number)
    ev.to_number = number_of(member(payload, "to"));
  ev.dialpad_user_id = first_int(payload, {"dialpad_user_id", "user_id"});
  const json* ts = member(payload, "timestamp");
  if (auto text = text_of(ts))
    ev.event_time = representable(parse_rfc3339(*text));
  noted(ts, ev.event_time, "timestamp", ev);
  if (!ev.event_time) {
    const json* ms = member(payload, "event_timestamp");
    ev.event_time = noted(ms, epoch_ms_of(ms), "event_timestamp", ev);
  }
  // A seed voicemail's recording and duration describe the voicemail, not the call.
  if (voicemail) {
    ev.voicemail_url = first_text(payload, {"recording_url", "voicemail_link"});
    ev.voicemail_duration_seconds = seconds_of(member(payload, "duration"), 1);
  } else {
    ev.recording_url = text_of(member(payload, "recording_url"));
    ev.duration_seconds = seconds_of(member(payload, "duration"), 1);
  }
  ev.transcript = first_text(payload, {"transcript", "transcription_text"});
  if (ev.event_type.starts_with("sms.")) {
    ev.message_id = first_int(payload, {"message_id", "id"});
    // The type says which way a seed SMS went when no direction field does
    // (absent, null, empty or not a string; a string that is not
    // understood is null, warned).
    if (!text_of(member(payload, "direction"))) {
      if (ev.event_type == "sms.received")
        ev.direction = "inbound";
      else if (ev.event_type == "sms.sent")
        ev.direction = "outbound";
    }
  }
}

void extract_dialpad(const json& payload, event_data& ev) {
  ev.dialpad_state = dialpad_state(payload);
  ev.dialpad_call_id = int_of(member(payload, "call_id"));
  auto external = number_of(member(payload, "external_number"));
  auto internal = number_of(member(payload, "internal_number"));
  if (ev.direction == "inbound") {
    ev.from_number = external;
    ev.to_number = internal;
  } else if (ev.direction == "outbound") {
    ev.from_number = internal;
    ev.to_number = external;
  }
  // SMS payloads name the numbers directly.
  if (!ev.from_number)
    ev.from_number = number_of(member(payload, "from_number"));
  if (!ev.to_number)
    ev.to_number = number_of(member(payload, "to_number"));
  auto time_of = [&](const char* field) {
    const json* v = member(payload, field);
    return noted(v, epoch_ms_of(v), field, ev);
  };
  ev.event_time = time_of("event_timestamp");
  ev.date_started = time_of("date_started");
  ev.date_connected = time_of("date_connected");
  ev.date_ended = time_of("date_ended");
  ev.duration_seconds = seconds_of(member(payload, "duration"), 1000);
  if (const json* rec = recording_entry(payload, false))
    ev.recording_url = text_of(member(*rec, "url"));
  else
    ev.recording_url = text_of(member(payload, "recording_url"));
  const json* vm = recording_entry(payload, true);
  ev.voicemail_url = text_of(member(payload, "voicemail_link"));
  if (!ev.voicemail_url && vm != nullptr)
    ev.voicemail_url = text_of(member(*vm, "url"));
  if (vm != nullptr)
    ev.voicemail_duration_seconds = seconds_of(member(*vm, "duration"), 1000);
  ev.transcript = first_text(payload, {"transcription_text", "transcript"});
  if (ev.event_type.starts_with("sms."))
    ev.message_id = int_of(member(payload, "id"));
}

} // namespace

std::optional<int64_t> json_int64(const nlohmann::json& v) {
  switch (v.type()) {
    case json::value_t::number_unsigned: {
      auto u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX))
        return std::nullopt;
      return static_cast<int64_t>(u);
    }
    case json::value_t::number_integer:
      return v.get<int64_t>();
    case json::value_t::number_float: {
      double d = v.get<double>();
      // From 2^53 on a double no longer holds every integer: 9007199254740993.0
      // is parsed as 2^53, another id, and -2^63-1 (which the parser keeps
      // as a double) as INT64_MIN. Such a number is no integer we can trust.
      constexpr double exact = 9007199254740992.0;
      if (!std::isfinite(d) || std::trunc(d) != d || d <= -exact || d >= exact)
        return std::nullopt;
      return static_cast<int64_t>(d);
    }
    case json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      int64_t out = 0;
      const char* end = s.data() + s.size();
      auto [ptr, ec] = std::from_chars(s.data(), end, out);
      if (s.empty() || ec != std::errc{} || ptr != end)
        return std::nullopt;
      return out;
    }
    default:
      return std::nullopt;
  }
}

std::optional<std::string> normalize_direction(std::string_view raw) {
  constexpr std::string_view blanks = " \t\r\n\f\v";
  auto first = raw.find_first_not_of(blanks);
  if (first == std::string_view::npos)
    return std::nullopt;
  raw = raw.substr(first, raw.find_last_not_of(blanks) - first + 1);
  std::string lower;
  lower.reserve(raw.size());
  for (char c : raw)
    lower += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  if (lower == "inbound" || lower == "incoming" || lower == "in")
    return "inbound";
  if (lower == "outbound" || lower == "outgoing" || lower == "out")
    return "outbound";
  return std::nullopt;
}

bool is_seed_payload(const nlohmann::json& payload) {
  return seed_type(payload).has_value();
}

std::string derive_event_type(const nlohmann::json& payload) {
  if (auto type = seed_type(payload))
    return *type;
  if (auto state = dialpad_state(payload))
    return type_for_state(*state);
  if (auto direction = sms_direction(payload))
    return *direction == "inbound" ? "sms.received" : "sms.sent";
  if (int_of(member(payload, "call_id")))
    return "call.updated";
  return "unknown";
}

std::string derive_event_id(const nlohmann::json& payload, std::string_view raw) {
  if (is_seed_payload(payload)) {
    // The specific names win over `id`, which a seed SMS uses for the message.
    for (const char* key : {"event_id", "dialpad_event_id", "id"})
      if (auto id = id_text(member(payload, key)))
        return *id;
    return sha256_hex(raw);
  }
  // A template applies only when every one of its parts is there: with a part
  // missing, two different events would share one identity and the second
  // would be acknowledged as a repeat and dropped. The body's hash stands in.
  // (sms_direction is only set for a payload without a state, so the two
  // templates never compete.)
  // A template too long to store (a state or status of hundreds of
  // characters) gives way to the hash too, rather than refusing the event.
  auto fits = [&](std::string id) {
    return utf8_length(id).value_or(max_event_id_length + 1) <= max_event_id_length
               ? id
               : sha256_hex(raw);
  };
  auto when = int_of(member(payload, "event_timestamp"));
  if (!when)
    return sha256_hex(raw);
  if (sms_direction(payload)) {
    auto status = text_of(member(payload, "message_status"));
    if (!status)
      return sha256_hex(raw);
    return fits("sms:" + int_text(member(payload, "id")) + ":" + *status + ":"
                + std::to_string(*when));
  }
  auto call_id = int_of(member(payload, "call_id"));
  auto state = dialpad_state(payload);
  if (call_id && state)
    return fits("call:" + std::to_string(*call_id) + ":" + *state + ":" + std::to_string(*when));
  return sha256_hex(raw);
}

std::optional<int64_t> payload_org_id(const nlohmann::json& payload) {
  return first_int(payload, {"org_id", "company_id"});
}

event_data extract_event(const nlohmann::json& payload) {
  event_data ev;
  ev.event_type = derive_event_type(payload);
  ev.seed = is_seed_payload(payload);
  if (auto raw = text_of(member(payload, "direction"))) {
    ev.direction = normalize_direction(*raw);
    ev.direction_unknown = !ev.direction;
  }
  if (ev.seed)
    extract_seed(payload, ev);
  else
    extract_dialpad(payload, ev);
  // A direction that is no string (a number, a boolean, an object) and did
  // not give way to one taken from the type is not understood either.
  if (!ev.direction) {
    const json* d = member(payload, "direction");
    if (d != nullptr && !d->is_null() && !d->is_string())
      ev.direction_unknown = true;
  }
  // Both shapes describe the agent as a `target` of type user.
  extract_user(payload, ev);
  if (const json* text = member(payload, "text"); text != nullptr && text->is_string())
    ev.text = text->get_ref<const std::string&>();
  else
    ev.text = text_of(member(payload, "text_content"));
  ev.message_status = text_of(member(payload, "message_status"));
  ev.org_id = payload_org_id(payload);
  return ev;
}

std::string event_serial(const std::string& app_id, std::string_view event_type,
                         const event_data& ev) {
  if (event_type.rfind("sms.", 0) == 0)
    return ev.message_id ? app_id + "|m|" + std::to_string(*ev.message_id) : std::string{};
  return ev.dialpad_call_id ? app_id + "|c|" + std::to_string(*ev.dialpad_call_id) : std::string{};
}

} // namespace cti
