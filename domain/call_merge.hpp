#pragma once

// Applying one event to a call (and to its voicemail): the rules of API.md
// "Event processing" as pure functions over values. The processor loads the
// row, calls merge_call / merge_voicemail, stores the result and publishes
// when something changed.
//
//   event_data --> target status --> ordering rule --> transition_allowed
//                  (per type and      (older than the    (call_status.hpp)
//                   Dialpad rules)     last_event_at?)          |
//                                                               v
//   outcome <-- duration when terminal <-- fill-in of non-status data
//
// Choices where API.md leaves room (each is tested in call_merge_test.cpp):
//  - A call event without a call id cannot create a call: merge_call answers
//    `ignored` when there is no current row and no `dialpad_call_id`.
//  - Status times: the status sets answered_at (active) or ended_at (ended,
//    missed, rejected) from the Dialpad `date_connected` / `date_ended` of the
//    event, else the event time, else `now`; started_at is set at creation from
//    `date_started`, else the event time, else `now`. ringing, held and
//    voicemail stamp nothing else.
//  - A call created by an event that sets no status (recording → ended,
//    updated → active) gets a placeholder status: no last_event_at (a later
//    real status event is not blocked by the ordering rule) and no status
//    time from the event time (only the event's own date_* fill in). The
//    placeholder `active` (no answered_at) is also no status the call
//    reached for the transition rules: the first real status replaces it,
//    whatever it is (a post-call event of a missed call delivered first).
//    The placeholder `ended` without an end time (a seed recording) takes
//    the first real end (ended, missed, rejected) with its times and
//    duration; a live status does not take it back. A duration is taken
//    only with an end time, so a recording's `duration` does not stand in
//    for the call's.
//  - A refusal by the ordering rule counts like a refused transition: the
//    event is `rejected_transition` when it changed nothing else. A terminal
//    status (ended, missed, rejected) is exempt from the ordering rule (the
//    transition rules still apply): Dialpad sends `missed` just before the
//    `voicemail` of the same call, and the outcome must win in any order.
//  - Dialpad's date_started / date_connected / date_ended are the call's real
//    times: when an event carries one it replaces the value (which may have
//    been derived from an event time); every event of a call carries the same
//    ones, so the final row does not depend on the delivery order.
//  - A voicemail's received_at is the earliest voicemail event's time.
//  - Dialpad hangup: "date_connected is set" means in the event or already on
//    the call (answered_at); the direction is the event's, else the call's.
//  - `call.resumed` is published for a Dialpad `connected` (`call.started`)
//    that actually moves a held call to active. A seed event names its type
//    itself: a seed `call.started` stays `call.started`.
//  - last_event_at holds the latest event time (event_timestamp / timestamp)
//    among the applied status changes and the events that reported the
//    status the call already had. The latter stay `unchanged` (nothing
//    visible moves; the first timestamp is kept) but move the mark: after
//    started@10, resumed@30 (unchanged), a late held@20 must not put the
//    call on hold, whatever the delivery order. An event without a time may
//    change the status (it is never "older") and leaves last_event_at as it
//    was: the processing time is not comparable with the sender's clock.
//  - An event whose status change is refused (transition or ordering rule)
//    applies only the data that is not the status (numbers, user, recording,
//    voicemail): not its date_* times, which belong to the status it
//    asked for (no answered_at from a `connected` refused on a missed call).
//  - voicemail.received on a terminal call asks for no status (not a refusal);
//    on a held call it asks for voicemail, which the machine refuses.
//  - duration_seconds: the event's when present, else computed when the call
//    is terminal, has an ended_at and no duration yet (a terminal placeholder
//    without ended_at waits for one): ended_at − answered_at rounded half up to
//    whole seconds (like Dialpad's milliseconds), 0 when never answered or
//    when the clock difference is negative.
//  - On creation `status_changed` is true (the call got its first status).
//  - A current row whose id differs from the event's is the caller's
//    concern: the row's id is kept.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "domain/call_status.hpp"
#include "domain/event_model.hpp"
#include "domain/time_format.hpp"

namespace cti {

/// The columns of a calls row that events change.
struct call_record {
  /// Dialpad's call id (the row's key within an app).
  int64_t dialpad_call_id = 0;
  /// `inbound` / `outbound`.
  std::optional<std::string> direction;
  /// Caller's number.
  std::optional<std::string> from_number;
  /// Called number.
  std::optional<std::string> to_number;
  /// Current status.
  call_status status = call_status::ringing;
  /// The Dialpad user the call is with.
  std::optional<int64_t> dialpad_user_id;
  /// When the call started (set at creation).
  timestamp started_at{};
  /// When it was answered.
  std::optional<timestamp> answered_at;
  /// When it ended.
  std::optional<timestamp> ended_at;
  /// Talk length in whole seconds.
  std::optional<int> duration_seconds;
  /// URL of the call recording.
  std::optional<std::string> recording_url;
  /// True once a voicemail event was seen for the call.
  bool has_voicemail = false;
  /// The ordering rule's mark: the latest event time among the status
  /// changes applied and the same status reported again (never shown).
  std::optional<timestamp> last_event_at;

  /// Field-wise equality.
  bool operator==(const call_record&) const = default;
};

/// How processing ended for one event (`webhook_events.outcome`).
enum class event_outcome {
  applied,             ///< Changed something (pushed, takes a seq).
  unchanged,           ///< Valid, but everything it carries was already there.
  rejected_transition, ///< Its status change was refused and it changed nothing else.
  ignored,             ///< No handler for its type.
};

/// The wire name: `applied`, `unchanged`, `rejected_transition`, `ignored`.
std::string_view to_string(event_outcome o);

/// The result of applying one event to a call.
struct call_merge {
  /// The row after the event (equal to the input when nothing changed).
  call_record call;
  /// What the event did.
  event_outcome outcome = event_outcome::ignored;
  /// The call did not exist before.
  bool created = false;
  /// The status moved (or was set by the creation).
  bool status_changed = false;
  /// The event name to push: `call.resumed` for connected-on-held, else the event type.
  std::string published_type;
  /// Set when the status change was refused by the transition rules (not
  /// by the ordering rule): the status the call stayed in.
  std::optional<call_status> refused_from;
  /// Set when the ordering rule refused the status change (the event is
  /// older than the call's last applied status change).
  bool refused_as_older = false;
  /// Only last_event_at moved (the same status again, with a later time):
  /// the event is not `applied`, but the row must store the new mark.
  bool mark_moved = false;
};

/// Applies one call event (call.* and voicemail.received's effect on the
/// call) to `current` (nullopt: call not seen yet). `now` is the processing
/// time, used when the event carries no time. Other event types (sms.*,
/// unknown, unhandled call.*) are `ignored` and leave `current` as it is.
call_merge merge_call(const std::optional<call_record>& current, const event_data& ev,
                      timestamp now);

/// The columns of a voicemails row that events change.
struct voicemail_record {
  /// The call the voicemail was left on.
  std::optional<int64_t> dialpad_call_id;
  /// Caller's number.
  std::optional<std::string> from_number;
  /// Called number.
  std::optional<std::string> to_number;
  /// The Dialpad user the voicemail is for.
  std::optional<int64_t> dialpad_user_id;
  /// URL of the voicemail audio.
  std::optional<std::string> recording_url;
  /// Transcription text.
  std::optional<std::string> transcript;
  /// Length in whole seconds.
  std::optional<int> duration_seconds;
  /// When it was received (set at creation).
  timestamp received_at{};

  /// Field-wise equality.
  bool operator==(const voicemail_record&) const = default;
};

/// The result of applying one event to a voicemail.
struct voicemail_merge {
  /// The row after the event (equal to the input when nothing changed).
  voicemail_record voicemail;
  /// The voicemail did not exist before.
  bool created = false;
  /// Something was created or filled in.
  bool changed = false;
};

/// Creates or enriches the voicemail of a call from a voicemail.received
/// event (Dialpad voicemail, voicemail_uploaded, transcription states; seed
/// voicemail.received): fill-in semantics, received_at = event time or `now`
/// at creation. Other event types change nothing (created and changed false).
voicemail_merge merge_voicemail(const std::optional<voicemail_record>& current,
                                const event_data& ev, timestamp now);

} // namespace cti
