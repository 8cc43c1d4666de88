#pragma once

// The frames of the WebSocket stream (API.md "WebSocket (/ws)") and the
// subscriber filters, as plain functions (unit-tested).

#include <chrono>
#include <optional>
#include <utility>
#include <vector>
#include <string>
#include <string_view>

#include "actors/messages.hpp"

namespace cti {

/// An event frame, rendered once and sent to every matching session.
struct rendered_frame {
  std::string text;                       ///< The frame's JSON.
  std::string event;                      ///< Its event name (for `events` globs).
  std::optional<std::string> target_crm;  ///< The CRM user it targets, if any.
};

/// `{"type":"event","seq",...}` for an applied event.
rendered_frame event_frame(const applied_event& ev);

/// `{"type":"welcome","app_id","node","seq"}`.
std::string welcome_frame(const std::string& app_id, const std::string& node, int64_t seq);

/// `{"type":"replay_truncated","from_seq"}`.
std::string replay_truncated_frame(int64_t from_seq);

/// Not a frame: the marker, sent down a session's frame path like one, that
/// the stream's head is out (the welcome, and `replay_truncated` when
/// there is one). The connection answers a client's `{"type":"ping"}`
/// only after it, so the pong never comes before the head (API.md: the
/// welcome first, `replay_truncated` right after it). It is never sent.
inline bool is_head_end(const std::string& frame) { return frame.empty(); }
inline std::string head_end_marker() { return {}; }

/// True when `text` matches `pattern`, where `*` matches any characters
/// (dots included) and everything else matches itself.
bool glob_match(std::string_view pattern, std::string_view text);

/// True when a session with `filter` wants `frame`: its event matches one of
/// the globs (or there are none), and it targets the filter's CRM user or
/// nobody (or the filter names none).
bool frame_matches(const rendered_frame& frame, const ws_filter& filter);

/// What bounds a connection's send queue (API.md: `WS_MAX_QUEUED_MESSAGES`;
/// ours: `WS_MAX_QUEUED_BYTES`).
struct send_queue_limits {
  std::size_t frames = 1024;             ///< WS_MAX_QUEUED_MESSAGES
  std::size_t bytes = 8u << 20;          ///< WS_MAX_QUEUED_BYTES
  std::size_t burst = 2024;              ///< Frames a replay and a moment's events add at once.
  std::chrono::steady_clock::duration stall = std::chrono::milliseconds{250};
};

/// A connection's send queue as the policy sees it.
struct send_queue_state {
  std::size_t frames = 0;                ///< Frames waiting (the one being written included).
  std::size_t bytes = 0;                 ///< Their bytes.
  bool writing = false;                  ///< A frame is being written.
  std::chrono::steady_clock::duration writing_for{}; ///< For how long.
};

/// True when the queue is at its bound (`limits.frames` frames or
/// `limits.bytes` bytes): from then on a write the socket does not take
/// for `limits.stall` makes the client too slow, and the connection
/// checks that on a timer as well as when a frame comes (a client that
/// stops reading after a burst holds the burst otherwise).
bool at_soft_bound(const send_queue_state& q, const send_queue_limits& limits);

/// The send-queue policy: a client is too slow when its queue is at its
/// bound (at_soft_bound) and the socket has not taken the frame being
/// written for `limits.stall` (it is not reading), or when four times the
/// frame bound plus `limits.burst` frames wait whatever the socket does.
/// A burst to a client that reads is not too slow, however many bytes: a
/// replay is queued at once, and its bytes depend on the events', which
/// the frame bound's burst allowance already bounds in number.
bool too_slow(const send_queue_state& q, const send_queue_limits& limits);

/// The frames a replaying session gets, in order: the replayed events
/// (seq ascending, all <= `upto`), then the live frames held meanwhile
/// whose seq is after `upto` (the read covered the others). Both inputs
/// are (seq, frame); a frame is a string or a shared pointer to one.
template <class Frame>
std::vector<Frame> replay_seam(std::vector<std::pair<int64_t, Frame>> replayed,
                               std::vector<std::pair<int64_t, Frame>> held, int64_t upto) {
  std::vector<Frame> out;
  out.reserve(replayed.size() + held.size());
  int64_t last = 0;
  for (auto& [seq, frame] : replayed) {
    if (seq > upto || seq <= last)
      continue; // never past the read's end, never twice
    last = seq;
    out.push_back(std::move(frame));
  }
  for (auto& [seq, frame] : held) {
    if (seq <= upto || seq <= last)
      continue; // the read covered it
    last = seq;
    out.push_back(std::move(frame));
  }
  return out;
}

} // namespace cti
