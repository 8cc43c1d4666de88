#pragma once

// The call status machine (API.md "Event processing"):
//
//                            (new call)
//                                |
//                                v
//                             ringing
//                                |
//         +---------+--------+---+----+----------+-----------+
//         v         v        v        v          v           v
//       active <-> held    ended    missed    rejected   voicemail
//        | |        |        ^        ^                   | |    ^
//        | |        |        |        +-------------------+ |    |
//        | |        |        +------------------------------+    |
//        | |        +--------+                                   |
//        | +-----------------+                                   |
//        +-------------------------------------------------------+
//
//   Every edge (the picture reads: a line leaves its status downwards and
//   enters the status with the arrow head):
//     ringing   -> active | held | ended | missed | rejected | voicemail
//     active    -> held | ended | voicemail
//     held      -> active | ended
//     voicemail -> ended | missed   (Dialpad reports the outcome after the voicemail)
//     ended, missed, rejected: terminal, no way out
//     any status -> the same status: always allowed (idempotent re-delivery)

#include <optional>
#include <string_view>

namespace cti {

/// Status of a call as stored in `calls.status` and shown to clients.
enum class call_status {
  ringing,   ///< Placed or ringing, not answered yet.
  active,    ///< Answered, talking.
  held,      ///< On hold (or parked).
  ended,     ///< Finished after being answered (or an outbound call that ended). Terminal.
  missed,    ///< Inbound call never answered. Terminal.
  rejected,  ///< Blocked or declined. Terminal.
  voicemail, ///< The caller is leaving (or left) a voicemail.
};

/// The lowercase wire name of `s` (`"ringing"`, `"active"`, ...).
std::string_view to_string(call_status s);

/// The status named `text` (exact lowercase wire name); nothing otherwise.
std::optional<call_status> parse_call_status(std::string_view text);

/// True for the statuses no event can leave: ended, missed, rejected.
bool is_terminal(call_status s);

/// True while the call is in progress: ringing, active, held.
bool is_live(call_status s);

/// True when a call in status `from` may move to `to` (the diagram above);
/// the same status again is always allowed.
bool transition_allowed(call_status from, call_status to);

} // namespace cti
