#pragma once

// What a webhook event is: its identity, its type and the normalized data a
// handler needs (API.md "Webhooks" and "Event processing"). Two payload
// shapes arrive, and everything below accepts either:
//
//   seed payload  : has a string `event_type` / `type` / `event`; flat fields,
//                   ISO `timestamp`, durations in seconds.
//   Dialpad event : no type field; `state` (calls) or the SMS shape; epoch
//                   milliseconds, durations in milliseconds, int64 ids.
//
// Nothing here throws: any JSON is accepted, and a field of the wrong type is
// treated as absent.
//
// Choices where API.md leaves room (each is tested in event_model_test.cpp):
//  - A type field counts only when it is a non-empty string; otherwise the
//    payload is read as a Dialpad one.
//  - Seed event id: `event_id`, then `dialpad_event_id`, then `id` (API.md
//    lists two orders; the specific names win because a seed SMS uses `id`
//    for the message id). A non-empty string or an integer number counts.
//  - The `call:`/`sms:` identity forms are for Dialpad payloads only; a seed
//    payload without a usable id falls back to the SHA-256 of the raw bytes.
//    The call id in the `call:` form is written in decimal (so `"42"` and `42`
//    give the same identity); a missing state / message_status /
//    event_timestamp is written as empty text.
//  - Dialpad `state` is matched exactly (Dialpad sends lowercase); a state
//    that is not a non-empty string counts as no state.
//  - The SMS shape is: no state, `id` readable as an int64, a string
//    `from_number`, and a `direction` that normalizes. With any of these
//    missing the payload is not an SMS (it becomes `call.updated` with a call
//    id, else `unknown`).
//  - Empty strings are absent for every extracted text field except the SMS
//    `text` (an empty text is a real, empty message).
//  - Dialpad numbers: by the normalized direction (inbound: from = external,
//    to = internal; outbound reversed); unknown direction leaves them unset
//    unless the payload has explicit `from_number` / `to_number` (SMS).
//  - Call recording URL (Dialpad): the first `recording_details` entry with a
//    URL whose `recording_type` (or `type`) is not `voicemail`, else
//    `recording_url`. Voicemail entries belong to the voicemail row.
//  - Voicemail (Dialpad): URL = `voicemail_link`, else the URL of the
//    `recording_details` entry of type `voicemail`; its duration (ms) gives
//    `voicemail_duration_seconds`.
//  - Seed `voicemail.received`: `recording_url` and `duration` describe the
//    voicemail (`voicemail_url`, `voicemail_duration_seconds`), not the call,
//    so `recording_url` / `duration_seconds` stay unset for it.
//  - Seed `date_*` / `started_at` / `ended_at` fields are not read: the seed
//    stamps status times from its event time only.
//  - `message_id` is read only for `sms.*` events (seed `id` is otherwise an
//    event id).
//  - Times (epoch ms) are accepted as integers, numeric strings or finite
//    floats within 1970..9999; durations are non-negative numbers only.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "domain/time_format.hpp"

namespace cti {

/// How the event arrived (stored in webhook_events.format).
enum class event_format {
  seed,         ///< Plain JSON signed by `X-Dialpad-Signature`.
  dialpad_jwt,  ///< Dialpad's HS256 JWT body.
  dialpad_json, ///< Dialpad's unsigned plain JSON (allowed per app).
};

/// Reads a 64-bit integer given as a JSON number or a numeric string ("123",
/// "-5"); nullopt otherwise. A float counts only when it has no fraction and
/// fits; strings allow an optional leading `-` and digits only (no spaces,
/// no `+`); booleans, null, empty text and junk give nullopt.
std::optional<int64_t> json_int64(const nlohmann::json& v);

/// inbound/incoming/in → "inbound"; outbound/outgoing/out → "outbound"
/// (case-insensitive, surrounding whitespace ignored); anything else → nullopt.
std::optional<std::string> normalize_direction(std::string_view raw);

/// True when the payload uses seed semantics: it is an object with a
/// non-empty string `event_type`, `type` or `event` field.
bool is_seed_payload(const nlohmann::json& payload);

/// The event type: the seed's `event_type` / `type` / `event` (first that is a
/// non-empty string); else derived from Dialpad's `state` per API.md
/// (`connected` → `call.started`: the processor publishes `call.resumed` when
/// the call is held); an SMS payload → `sms.received` (inbound) or `sms.sent`
/// (outbound); anything else `call.updated` when it has a call id, else
/// `unknown`.
std::string derive_event_type(const nlohmann::json& payload);

/// The dialpad_event_id per API.md, first that applies: the seed's
/// `event_id` / `dialpad_event_id` / `id` (numbers as decimal text);
/// `call:{call_id}:{state}:{event_timestamp}` for a Dialpad call event (one
/// with a call id); `sms:{id}:{message_status}:{event_timestamp}` for a Dialpad
/// SMS; else the lowercase hex SHA-256 of `raw` (the request body, or for a
/// JWT body the token text: the caller passes the right bytes).
std::string derive_event_id(const nlohmann::json& payload, std::string_view raw);

/// The org id used for tenant routing: the payload's `org_id`, else
/// `company_id` (first readable as an int64).
std::optional<int64_t> payload_org_id(const nlohmann::json& payload);

/// Everything a handler needs from one event, normalized. Absent fields stay nullopt.
struct event_data {
  /// As given (seed) or derived (Dialpad).
  std::string event_type;
  /// True when the payload has seed semantics.
  bool seed = false;
  /// Dialpad `state` (Dialpad payloads only).
  std::optional<std::string> dialpad_state;
  /// Seed: `dialpad_call_id` | `call_id` | `call.id`; Dialpad: `call_id`.
  std::optional<int64_t> dialpad_call_id;
  /// `inbound` / `outbound`.
  std::optional<std::string> direction;
  /// A `direction` was given that is none of the known spellings (it is
  /// stored as null; the processor logs a warning).
  bool direction_unknown = false;
  /// The first time field that was given but could not be read (not null,
  /// 0 or "", the ways a payload writes "not known"): it counts as absent,
  /// so the processing time may stand in; the processor logs a warning.
  std::string unreadable_time;
  /// The caller's number (see the header comment for the Dialpad mapping).
  std::optional<std::string> from_number;
  /// The called number.
  std::optional<std::string> to_number;
  /// Seed: `dialpad_user_id` | `user_id` | `target.id` (user); Dialpad: `target.id` (user).
  std::optional<int64_t> dialpad_user_id;
  /// `target.name` when the target is a user.
  std::optional<std::string> user_name;
  /// `target.email` when the target is a user.
  std::optional<std::string> user_email;
  /// `target.phone` (or `target.phone_number`) when the target is a user.
  std::optional<std::string> user_phone;
  /// `target.office_id` when the target is a user.
  std::optional<int64_t> user_office_id;
  /// Dialpad: `event_timestamp` (epoch ms); seed: `timestamp` (RFC 3339) | `event_timestamp`.
  std::optional<timestamp> event_time;
  /// Dialpad `date_started` (epoch ms).
  std::optional<timestamp> date_started;
  /// Dialpad `date_connected` (epoch ms).
  std::optional<timestamp> date_connected;
  /// Dialpad `date_ended` (epoch ms).
  std::optional<timestamp> date_ended;
  /// Dialpad `duration` ms rounded half up to seconds; seed `duration` seconds.
  std::optional<int> duration_seconds;
  /// The call recording (see the header comment).
  std::optional<std::string> recording_url;
  /// Dialpad `voicemail_link`; seed `recording_url` | `voicemail_link` (voicemail.received).
  std::optional<std::string> voicemail_url;
  /// Dialpad `transcription_text` | `transcript`; seed `transcript` | `transcription_text`.
  std::optional<std::string> transcript;
  /// Length of the voicemail recording.
  std::optional<int> voicemail_duration_seconds;
  /// SMS id: seed `message_id` | `id`; Dialpad `id`.
  std::optional<int64_t> message_id;
  /// SMS text (`text`, else Dialpad `text_content`).
  std::optional<std::string> text;
  /// SMS `message_status`.
  std::optional<std::string> message_status;
  /// `org_id` | `company_id`.
  std::optional<int64_t> org_id;
};

/// Extracts event_data from a parsed payload (any JSON; wrong types are
/// treated as absent, never throws). For a Dialpad SMS, `to_number` may be an
/// array: its first string element is taken.
event_data extract_event(const nlohmann::json& payload);

/// What an event of `app_id` is about, for ordering: `<app>|m|<message id>`
/// for `sms.*` events, else `<app>|c|<call id>`; empty when it has neither.
/// Events with the same serial are applied in the order they arrived.
std::string event_serial(const std::string& app_id, std::string_view event_type,
                         const event_data& ev);

} // namespace cti
