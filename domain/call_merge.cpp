#include "domain/call_merge.hpp"

#include <array>

namespace cti {

namespace {

/// The event types that have a call handler.
constexpr std::array<std::string_view, 10> call_event_types{
  "call.ring",    "call.started",  "call.held",     "call.resumed",
  "call.ended",   "call.missed",   "call.rejected", "call.recording.completed",
  "call.updated", "voicemail.received",
};

bool has_call_handler(std::string_view type) {
  for (auto t : call_event_types)
    if (t == type)
      return true;
  return false;
}

/// Sets `field` from `value` when the field is still empty (COALESCE).
template <class T>
void fill(std::optional<T>& field, const std::optional<T>& value) {
  if (!field && value)
    field = value;
}

/// The status the event asks for, given the call as it is (nullopt: not seen
/// yet); nothing when the event sets no status.
std::optional<call_status> target_status(const std::optional<call_record>& current,
                                         const event_data& ev) {
  const std::string& type = ev.event_type;
  if (type == "call.ring") {
    // Dialpad preanswer / queued only create the call, never change an existing one's status.
    if (current && !ev.seed
        && (ev.dialpad_state == "preanswer" || ev.dialpad_state == "queued"))
      return std::nullopt;
    return call_status::ringing;
  }
  // call.started: active (connected on a held call is a resume, see merge_call).
  if (type == "call.started" || type == "call.resumed")
    return call_status::active;
  if (type == "call.held")
    return call_status::held;
  if (type == "call.ended") {
    // A seed call.ended always means ended.
    if (ev.seed)
      return call_status::ended;
    // Dialpad hangup: ended if it was answered, else missed (inbound) / ended
    // (outbound, or direction unknown). The direction is the one the record
    // keeps (merge_data fills it only when unknown), so a hangup that
    // disagrees with the stored call cannot make an unanswered inbound
    // call read `ended`.
    bool answered = ev.date_connected || (current && current->answered_at);
    if (answered)
      return call_status::ended;
    auto direction = current && current->direction ? current->direction : ev.direction;
    return direction == "inbound" ? call_status::missed : call_status::ended;
  }
  if (type == "call.missed")
    return call_status::missed;
  if (type == "call.rejected")
    return call_status::rejected;
  // voicemail.received: voicemail when the call is not yet terminal.
  if (type == "voicemail.received") {
    if (current && is_terminal(current->status))
      return std::nullopt;
    return call_status::voicemail;
  }
  // call.recording.completed and call.updated set no status.
  return std::nullopt;
}

/// Stamps the time the status `s` sets, keeping one already there (fill-in):
/// active → answered_at, ended/missed/rejected → ended_at. Dialpad's own
/// date_* wins, else the event time (seed `timestamp`), else `now`.
void stamp_status(call_record& call, call_status s, const event_data& ev, timestamp when) {
  if (s == call_status::active)
    fill(call.answered_at, std::optional{ev.date_connected.value_or(when)});
  else if (is_terminal(s))
    fill(call.ended_at, std::optional{ev.date_ended.value_or(when)});
}

/// ended_at − answered_at rounded half up to whole seconds; 0 when never
/// answered or when the clocks disagree.
int computed_duration(const call_record& call) {
  if (!call.answered_at || !call.ended_at || *call.ended_at <= *call.answered_at)
    return 0;
  auto us = (*call.ended_at - *call.answered_at).count();
  auto seconds = us / 1'000'000 + (us % 1'000'000 >= 500'000);
  return seconds > INT32_MAX ? INT32_MAX : static_cast<int>(seconds);
}

/// Fills `out.call` as a new call from `ev` (its id is known).
void create_call(call_merge& out, const event_data& ev, std::optional<call_status> wanted,
                 timestamp when) {
  call_record& call = out.call;
  out.created = true;
  out.status_changed = true;
  call.dialpad_call_id = *ev.dialpad_call_id;
  // An event that sets no status creates the call ended (recording) or active (updated).
  call.status = wanted ? *wanted
                       : (ev.event_type == "call.recording.completed" ? call_status::ended
                                                                      : call_status::active);
  // started_at is set at creation: Dialpad date_started, else the event time, else now.
  call.started_at = ev.date_started.value_or(when);
  // A placeholder status stamps no time and does not take part in the
  // ordering rule: only a real status change does, and only with the
  // event's own time (see change_status).
  if (wanted) {
    call.last_event_at = ev.event_time;
    stamp_status(call, call.status, ev, when);
  }
}

/// The `active` an event without a status gave a new call (call.updated, a
/// Dialpad post-call state delivered before the call's own states), which
/// no status event has reached yet. A real `active` always stamps
/// answered_at (see stamp_status), so an active call without one (and
/// without an ordering mark) is that placeholder. It is not a status the
/// call reached: the first real status replaces it whatever it is, as it
/// would have on a new call (else a missed call whose csat came first
/// stayed `active` for good: active → missed is not a transition).
bool placeholder_active(const call_record& call) {
  return call.status == call_status::active && !call.answered_at && !call.last_event_at;
}

/// The `ended` a recording gave a new call before any status event, when
/// the recording named no end time (a seed recording: Dialpad's carries
/// `date_ended`). A real end always stamps ended_at (see stamp_status). The
/// call is over, but how it ended (answered, missed, rejected) and when is
/// still to come: the first real end replaces it with its status and times
/// (else a missed call whose recording came first stayed `ended` with no
/// end time for good: ended → missed is not a transition). A live status
/// does not: a call known to be over never goes back to ringing.
bool placeholder_ended(const call_record& call) {
  return call.status == call_status::ended && !call.ended_at && !call.last_event_at;
}

/// Moves an existing call to `wanted` when the rules allow it; false when the
/// change was refused (ordering rule or transition).
bool change_status(call_merge& out, const event_data& ev, call_status wanted, timestamp when) {
  call_record& call = out.call;
  // The same status again is allowed, but only fills in: the first timestamp is kept.
  if (wanted == call.status) {
    stamp_status(call, call.status, ev, when);
    // ... and moves the ordering mark when it is later (see call_merge.hpp).
    if (ev.event_time && (!call.last_event_at || *ev.event_time > *call.last_event_at))
      call.last_event_at = ev.event_time;
    return true;
  }
  // Ordering rule: an event older than the last applied status change does
  // not change the status (equal times are not older). Two exemptions, both
  // an outcome the call really reached: after a voicemail (voicemail →
  // missed|ended: Dialpad stamps `missed` just before the `voicemail` of
  // the same call, so the outcome must win whichever is processed first),
  // and an end that carries Dialpad's own `date_ended` (the call did end;
  // a skewed event time must not leave it live for good). Any other older
  // event, a terminal one too, leaves the status as it is (API.md: events
  // that arrive out of order never rewind a call).
  bool exempt = is_terminal(wanted) && (call.status == call_status::voicemail || ev.date_ended);
  // Event times are whole milliseconds; a mark stored before they were
  // (seed times kept to the µs) is compared at the same grain, so an event
  // of the same millisecond is not taken as older.
  bool older = ev.event_time && call.last_event_at
               && *ev.event_time < std::chrono::floor<std::chrono::milliseconds>(*call.last_event_at)
               && !exempt;
  if (older) {
    out.refused_as_older = true;
    return false;
  }
  bool replaces_placeholder =
    placeholder_active(call) || (placeholder_ended(call) && is_terminal(wanted));
  if (!replaces_placeholder && !transition_allowed(call.status, wanted)) {
    out.refused_from = call.status;
    return false;
  }
  // Dialpad has no resume state: its connected on a held call is published
  // as call.resumed. A seed event names its type itself and keeps it.
  if (call.status == call_status::held && wanted == call_status::active
      && ev.event_type == "call.started" && !ev.seed)
    out.published_type = "call.resumed";
  call.status = wanted;
  out.status_changed = true;
  // last_event_at: the time of the last applied status change as the
  // events tell it (API.md: the ordering rule compares event_timestamp /
  // timestamp). An event without a time changes the status and leaves it:
  // the processing time is not comparable with the senders' clocks, and
  // would make every later event that carries its own time look older.
  if (ev.event_time)
    call.last_event_at = ev.event_time;
  stamp_status(call, call.status, ev, when);
  return true;
}

/// Sets `field` from Dialpad's own `value` when there is one: Dialpad's
/// date_* fields are the call's real times (every event of a call carries the
/// same ones once known), so they replace a time we had to derive from an
/// event's timestamp. This keeps the result independent of delivery order.
void take(std::optional<timestamp>& field, const std::optional<timestamp>& value) {
  if (value)
    field = value;
}

/// Merges the data that is not the status, whatever the status, with
/// COALESCE semantics (post-call events follow the hangup; out-of-order
/// events carry data too); the status times only when `take_times`.
void merge_data(call_record& call, const event_data& ev, bool take_times) {
  fill(call.direction, ev.direction);
  fill(call.from_number, ev.from_number);
  fill(call.to_number, ev.to_number);
  fill(call.dialpad_user_id, ev.dialpad_user_id);
  fill(call.recording_url, ev.recording_url);
  // The status times and the duration only from an event whose status
  // change was not refused; the duration is the event's when present
  // (Dialpad ms already rounded) ...
  // and only the times the call's status admits: a post-call event
  // processed before its hangup (or with the hangup lost) must not give a
  // ringing call an answer or a live one an end; the hangup brings the
  // same Dialpad times. A call that went to voicemail is over for its
  // agent: Dialpad's voicemail events carry its end.
  if (take_times) {
    if (ev.date_started)
      call.started_at = *ev.date_started;
    if (call.status != call_status::ringing)
      take(call.answered_at, ev.date_connected);
    if (is_terminal(call.status) || call.status == call_status::voicemail) {
      take(call.ended_at, ev.date_ended);
      // Only with an end: the placeholder `ended` of a seed recording has
      // none, and the recording's `duration` must not stand in for the
      // call's (its real end brings its own, or ended − answered).
      if (call.ended_at)
        fill(call.duration_seconds, ev.duration_seconds);
    }
  }
  // ... else, once the call has ended, ended_at − answered_at (0 if never answered).
  if (is_terminal(call.status) && call.ended_at && !call.duration_seconds)
    call.duration_seconds = computed_duration(call);
  // voicemail.received: has_voicemail = true whatever the status.
  if (ev.event_type == "voicemail.received")
    call.has_voicemail = true;
}

} // namespace

std::string_view to_string(event_outcome o) {
  switch (o) {
    case event_outcome::applied: return "applied";
    case event_outcome::unchanged: return "unchanged";
    case event_outcome::rejected_transition: return "rejected_transition";
    case event_outcome::ignored: return "ignored";
  }
  return "ignored";
}

call_merge merge_call(const std::optional<call_record>& current, const event_data& ev,
                      timestamp now) {
  call_merge out;
  out.published_type = ev.event_type;
  if (current)
    out.call = *current;
  // No handler for the type: ignored, the row stays as it is.
  if (!has_call_handler(ev.event_type))
    return out;
  // Without a call id there is no row to create.
  if (!current && !ev.dialpad_call_id)
    return out;
  // The time an applied status change is stamped with: the event's, else now.
  const timestamp when = ev.event_time.value_or(now);
  const auto wanted = target_status(current, ev);
  bool refused = false;
  if (!current)
    create_call(out, ev, wanted, when);
  else if (wanted)
    refused = !change_status(out, ev, *wanted, when);
  // A refused status change takes none of the event's status times.
  merge_data(out.call, ev, !refused);
  // applied: something visible changed (the ordering mark alone is not
  // shown); rejected_transition: refused and nothing else changed;
  // unchanged: valid, but all it carries was already there.
  bool visible_change = out.created;
  if (!visible_change) {
    call_record shown = out.call;
    shown.last_event_at = current->last_event_at;
    visible_change = shown != *current;
  }
  if (visible_change)
    out.outcome = event_outcome::applied;
  else if (refused)
    out.outcome = event_outcome::rejected_transition;
  else
    out.outcome = event_outcome::unchanged;
  out.mark_moved = !visible_change && out.call.last_event_at != current->last_event_at;
  return out;
}

voicemail_merge merge_voicemail(const std::optional<voicemail_record>& current,
                                const event_data& ev, timestamp now) {
  voicemail_merge out;
  if (current)
    out.voicemail = *current;
  if (ev.event_type != "voicemail.received")
    return out;
  voicemail_record& vm = out.voicemail;
  if (!current) {
    out.created = true;
    // received_at is set at creation: the event time, else now.
    vm.received_at = ev.event_time.value_or(now);
  } else if (ev.event_time && *ev.event_time < vm.received_at) {
    // The earliest voicemail event tells when it was left, whatever the
    // delivery order (voicemail, voicemail_uploaded, transcription).
    vm.received_at = *ev.event_time;
  }
  // Fill-in: the first value of every field is kept (transcription arrives later).
  fill(vm.dialpad_call_id, ev.dialpad_call_id);
  fill(vm.from_number, ev.from_number);
  fill(vm.to_number, ev.to_number);
  fill(vm.dialpad_user_id, ev.dialpad_user_id);
  fill(vm.recording_url, ev.voicemail_url);
  fill(vm.transcript, ev.transcript);
  fill(vm.duration_seconds, ev.voicemail_duration_seconds);
  out.changed = out.created || vm != *current;
  return out;
}

} // namespace cti
