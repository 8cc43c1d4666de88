#include "actors/tenant.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <thread>
#include <unordered_map>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "actors/ws_stream.hpp"
#include "domain/exception_text.hpp"
#include "domain/internal_failures.hpp"
#include "domain/log.hpp"

namespace cti {

namespace {

/// One WebSocket session of the app on this node.
struct subscriber {
  caf::actor session;
  ws_filter filter;
  std::weak_ptr<ws_sink> sink;  ///< Its connection, written to directly.
  /// Seqs up to this one are not sent (the client saw them: `since`).
  int64_t skip_through = 0;
  /// Its replay is being read: live frames wait in `buffered` (seq, frame).
  bool replaying = false;
  std::vector<std::pair<int64_t, std::shared_ptr<const std::string>>> buffered;
  /// More live frames came during this round of its replay than it may
  /// hold: they were dropped, and the next round reads them back.
  bool overflowed = false;
  /// Its key was read again after the app's last close (see admit).
  bool key_rechecked = false;
  /// Its place in the order of admissions (see close_stale_sessions).
  uint64_t admitted = 0;
};

struct tenant_state {
  static inline const char* name = "tenant";
  tenant_settings settings;
  std::string app_id;
  db_pool_actor pool;
  uint64_t received = 0;       ///< Applied events received.
  // -- the ordered stream ------------------------------------------------------
  bool loaded = false;         ///< `delivered` was read from the database.
  int64_t delivered = 0;       ///< Highest seq pushed (or the app's seq at load).
  std::map<int64_t, applied_event> pending; ///< Received ahead of a missing seq.
  bool gap_timer = false;      ///< A wait for the missing seq is running.
  bool gap_filling = false;    ///< The missing events are being read.
  bool check_scheduled = false; ///< The periodic seq check is armed.
  bool pending_full = false;    ///< `pending` reached max_pending (warned once).
  std::vector<subscriber> subscribers;
  /// Session actor id → its place in `subscribers` (a mass disconnect of
  /// n sessions costs n, not n²).
  std::unordered_map<caf::actor_id, std::size_t> subscriber_index;
  std::vector<subscriber> waiting; ///< Subscribed before `delivered` was known.
  /// Replays' first reads: one read at a time serves every session that
  /// asked meanwhile (a reconnect storm costs a few reads, not one each).
  struct replay_request {
    caf::actor session;
    int64_t since;
    int64_t welcome_seq; ///< Where the stream stood when it was admitted.
  };
  std::vector<replay_request> replay_queue;
  bool replay_reading = false; ///< A replays' first read is in flight.
  // -- user mappings -----------------------------------------------------------
  /// Dialpad user → CRM user (nullopt: known to be unmapped).
  std::unordered_map<int64_t, std::optional<std::string>> mappings;
  /// Loads in flight and who waits for them.
  std::map<int64_t, std::vector<caf::typed_response_promise<std::string>>> loading;
  uint64_t generation = 0;     ///< Bumped by invalidation: late loads are not kept.
  // -- the last close of all sessions (revoked key, disabled app) --------------
  int64_t closed_at = 0;       ///< Steady clock, ns; 0: never.
  uint64_t closes = 0;         ///< Closes handled (a key read spans none).
  uint64_t admissions = 0;     ///< Sessions admitted so far.
  uint16_t close_code = 0;
  std::string close_reason;
};

using tenant_ptr = tenant_actor::stateful_pointer<tenant_state>;

/// Sends one frame to a session: straight to its connection when known
/// (every frame of a session takes the same path, so they stay in order),
/// else through its actor.
void push(tenant_ptr self, const subscriber& sub, std::shared_ptr<const std::string> frame) {
  if (auto sink = sub.sink.lock())
    sink->send_text(std::move(frame));
  else
    self->send(caf::actor_cast<ws_session_actor>(sub.session), frame_atom_v, std::string{*frame});
}

void push(tenant_ptr self, const subscriber& sub, std::string frame) {
  push(self, sub, std::make_shared<const std::string>(std::move(frame)));
}

subscriber* find_subscriber(tenant_ptr self, const caf::actor& session) {
  auto& st = self->state;
  auto it = st.subscriber_index.find(session.id());
  return it == st.subscriber_index.end() ? nullptr : &st.subscribers[it->second];
}

void add_subscriber(tenant_state& st, subscriber sub) {
  auto [it, fresh] = st.subscriber_index.try_emplace(sub.session.id(), st.subscribers.size());
  if (fresh)
    st.subscribers.push_back(std::move(sub));
  else
    st.subscribers[it->second] = std::move(sub);
}

/// Removes a session's entry (if any) by moving the last one into its place.
void remove_subscriber(tenant_state& st, caf::actor_id id) {
  auto it = st.subscriber_index.find(id);
  if (it == st.subscriber_index.end())
    return;
  auto pos = it->second;
  st.subscriber_index.erase(it);
  if (pos + 1 != st.subscribers.size()) {
    st.subscribers[pos] = std::move(st.subscribers.back());
    st.subscriber_index[st.subscribers[pos].session.id()] = pos;
  }
  st.subscribers.pop_back();
}

/// Reads the app's stored events after..upto; `then` gets them in seq order.
template <class Then, class Fail>
void read_stream(tenant_ptr self, int64_t after, int64_t upto, int64_t limit, Then then,
                 Fail fail, std::chrono::milliseconds hold = {}) {
  db_query q;
  q.kind = query_kind::stream_events;
  q.app_id = self->state.app_id;
  nlohmann::json args{{"after", after}, {"upto", upto}, {"limit", limit}};
  if (hold.count() > 0)
    args["hold_ms"] = hold.count(); // tests only
  q.args = args.dump();
  self->request(self->state.pool, std::chrono::seconds{20}, query_atom_v, std::move(q))
    .then([then](db_answer& ans) mutable { then(ans.applied); },
          [fail](caf::error& err) mutable { fail(err); });
}

/// The page of a read that catches up with the stream (a gap filling, a
/// replay's later round): WS_REPLAY_MAX bounds what a replay goes back, not
/// how fast the stream is caught up with, and may be 0.
int64_t read_page(const tenant_settings& settings) {
  return std::max<int64_t>(settings.replay_max, 1000);
}

/// A frame rendered once for every session that gets it.
struct replay_frame {
  int64_t seq;
  rendered_frame frame; ///< Its event and target, for the filters (text moved out).
  std::shared_ptr<const std::string> text;
};

std::vector<replay_frame> render_all(const std::vector<applied_event>& events) {
  std::vector<replay_frame> out;
  out.reserve(events.size());
  for (const auto& ev : events) {
    auto frame = event_frame(ev);
    // The text moves to the shared copy (matching needs only the rest).
    auto text = std::make_shared<const std::string>(std::move(frame.text));
    out.push_back({ev.seq, std::move(frame), std::move(text)});
  }
  return out;
}

/// How far a read of `limit` events up to `upto` reached: a full page may
/// end before `upto`.
int64_t covered_by(const std::vector<applied_event>& events, int64_t limit, int64_t upto) {
  return static_cast<int64_t>(events.size()) >= limit && !events.empty()
           ? std::min(upto, events.back().seq)
           : upto;
}

/// The replay's read failed: the session is closed (1011), out of the
/// fan-out before the close goes: a live event delivered now would reach
/// the client ahead of the close, after the gap the failed read left, and
/// a client reconnecting with the last seq it saw would never get the
/// events in between.
void fail_replay(tenant_ptr self, const caf::actor& session) {
  self->demonitor(session);
  remove_subscriber(self->state, session.id());
  self->send(caf::actor_cast<ws_session_actor>(session), close_atom_v, uint16_t{1011},
             std::string{"replay failed, reconnect with since"});
}

void replay_more(tenant_ptr self, const caf::actor& session, int64_t since, int64_t after);

/// Sends a round of a replay: the frames read (seq > what the client has,
/// matching its filter) and, when the round covered where the stream stood
/// at its start and nothing held was dropped, the live frames held
/// meanwhile after it (with no gap and no duplicate at the seam); else the
/// next round reads on from where this one ended.
void send_replay_round(tenant_ptr self, subscriber& sub, int64_t since, int64_t upto,
                       int64_t covered,
                       std::vector<std::pair<int64_t, std::shared_ptr<const std::string>>> replayed) {
  if (sub.overflowed || covered < upto) {
    for (auto& frame : replay_seam(std::move(replayed), {}, covered))
      push(self, sub, std::move(frame));
    sub.buffered.clear();
    sub.overflowed = false;
    replay_more(self, sub.session, since, covered);
    return;
  }
  for (auto& frame : replay_seam(std::move(replayed), std::move(sub.buffered), upto))
    push(self, sub, std::move(frame));
  sub.buffered.clear();
  sub.replaying = false;
}

/// A replay's later round: the stored events after `after` up to where
/// the stream stands (when more live frames arrived during the previous
/// round than the session may hold, or that round's read was a full page
/// short of its end, they were dropped; every event is stored before it
/// is published, so the database has them all). A client that reads is
/// never closed for events that arrive during its replay.
void replay_more(tenant_ptr self, const caf::actor& session, int64_t since, int64_t after) {
  auto& st = self->state;
  auto upto = st.delivered;
  // A later round reads what arrived live, whatever WS_REPLAY_MAX (0 too).
  auto limit = read_page(st.settings);
  read_stream(
    self, after, upto, limit,
    [self, session, since, upto, limit](std::vector<applied_event>& events) {
      auto* sub = find_subscriber(self, session);
      if (sub == nullptr)
        return; // gone meanwhile
      std::vector<std::pair<int64_t, std::shared_ptr<const std::string>>> replayed;
      for (auto& f : render_all(events))
        if (frame_matches(f.frame, sub->filter))
          replayed.emplace_back(f.seq, std::move(f.text));
      send_replay_round(self, *sub, since, upto, covered_by(events, limit, upto),
                        std::move(replayed));
    },
    [self, session](const caf::error& err) {
      log::warn("websocket replay failed", {{"app_id", self->state.app_id},
                                            {"error", message_of(err)}});
      fail_replay(self, session);
    },
    self->state.settings.replay_hold);
}

/// Where a session's replay starts: after its `since`, and at most
/// WS_REPLAY_MAX events before where the stream stood when it was
/// admitted (its welcome's seq; what came after that it gets in full).
int64_t replay_start(const tenant_state::replay_request& r, const tenant_settings& settings) {
  return std::max(r.since, r.welcome_seq - settings.replay_max);
}

/// Replays' first rounds, for every session queued: one read from the
/// earliest point any of them needs up to where the stream stands (at most
/// WS_REPLAY_MAX plus a page of events), each frame rendered once; each
/// session gets the retained events after its replay_start that its filter
/// takes, then the live frames held meanwhile. Sessions that ask while the
/// read is in flight wait for the next one (their live frames are held from
/// the moment they asked, and that read ends where the stream stands when
/// it starts: no gap).
void start_replays(tenant_ptr self) {
  auto& st = self->state;
  if (st.replay_reading || st.replay_queue.empty())
    return;
  auto members = std::move(st.replay_queue);
  st.replay_queue.clear();
  auto upto = st.delivered;
  auto from = upto;
  for (const auto& m : members)
    from = std::min(from, replay_start(m, st.settings));
  // Bounded: a session that waited long behind another read may have much
  // to catch up with; past this the rounds go on a page at a time.
  auto read_upto = std::min(upto, from + st.settings.replay_max + read_page(st.settings));
  auto limit = read_upto - from;
  st.replay_reading = true;
  read_stream(
    self, from, read_upto, limit,
    [self, members, upto, read_upto, limit](std::vector<applied_event>& events) {
      auto& st = self->state;
      st.replay_reading = false;
      auto frames = render_all(events);
      auto covered = covered_by(events, limit, read_upto);
      for (const auto& m : members) {
        auto* sub = find_subscriber(self, m.session);
        if (sub == nullptr)
          continue; // gone meanwhile
        auto after = replay_start(m, st.settings);
        if (after >= covered && covered < upto) {
          st.replay_queue.push_back(m); // the read ended before its start: the next one
          continue;
        }
        auto first = std::find_if(frames.begin(), frames.end(),
                                  [after](const replay_frame& f) { return f.seq > after; });
        // More missed than WS_REPLAY_MAX, or retention removed the start of
        // the range: the notice names the first event that will come (sent
        // now, still right after the welcome: live frames are held).
        int64_t first_seq = first == frames.end() ? covered + 1 : first->seq;
        if (first_seq > m.since + 1)
          push(self, *sub, replay_truncated_frame(first_seq));
        push(self, *sub, head_end_marker());
        std::vector<std::pair<int64_t, std::shared_ptr<const std::string>>> replayed;
        for (auto it = first; it != frames.end(); ++it)
          if (frame_matches(it->frame, sub->filter))
            replayed.emplace_back(it->seq, it->text);
        send_replay_round(self, *sub, m.since, upto, covered, std::move(replayed));
      }
      start_replays(self);
    },
    [self, members](const caf::error& err) {
      self->state.replay_reading = false;
      log::warn("websocket replay failed",
                {{"app_id", self->state.app_id},
                 {"sessions", std::to_string(members.size())},
                 {"error", message_of(err)}});
      for (const auto& m : members)
        if (find_subscriber(self, m.session) != nullptr)
          fail_replay(self, m.session);
      start_replays(self);
    },
    st.settings.replay_hold);
}

void start_replay(tenant_ptr self, const caf::actor& session, int64_t since) {
  auto& st = self->state;
  st.replay_queue.push_back({session, since, st.delivered});
  start_replays(self);
}

void deliver(tenant_ptr self, const applied_event& ev);
void flush(tenant_ptr self);

/// Reads the events after `delivered` up to `upto` back from the database
/// and delivers them (a page of WS_REPLAY_MAX at a time). A seq the
/// database does not have (an event replayed under a new seq) is passed
/// over; a failed read is retried a second later, nothing skipped. With
/// nobody listening the position just moves on.
void catch_up(tenant_ptr self, int64_t upto) {
  auto& st = self->state;
  if (st.gap_filling || upto <= st.delivered)
    return;
  if (st.subscribers.empty() && st.waiting.empty()) {
    st.delivered = upto;
    flush(self);
    return;
  }
  st.gap_filling = true;
  auto to = std::min(upto, st.delivered + read_page(st.settings));
  read_stream(
    self, st.delivered, to, read_page(st.settings),
    [self, to, upto](std::vector<applied_event>& events) {
      auto& st = self->state;
      for (auto& ev : events)
        if (ev.seq > st.delivered)
          deliver(self, ev);
      if (st.delivered < to) {
        log::warn("event stream: seqs not found, passed over",
                  {{"app_id", st.app_id}, {"from", std::to_string(st.delivered + 1)},
                   {"to", std::to_string(to)}});
        st.delivered = to;
      }
      st.gap_filling = false;
      if (to < upto)
        catch_up(self, upto);
      else
        flush(self);
    },
    [self](const caf::error& err) {
      auto& st = self->state;
      log::warn("event stream catch-up failed, retrying",
                {{"app_id", st.app_id}, {"error", message_of(err)}});
      st.gap_filling = false;
      st.gap_timer = true;
      self->delayed_send(self, std::chrono::seconds{1}, gap_atom_v, st.delivered + 1);
    });
}

/// The app's row as the tenant needs it.
struct app_position {
  int64_t last_seq = 0;  ///< apps.last_seq
  std::string key_id;    ///< The current key's non-secret id ("" when none).
  bool is_active = false;
};

/// Reads the app's stored stream position (apps.last_seq) and state.
template <class Then, class Fail>
void read_last_seq(tenant_ptr self, Then then, Fail fail,
                   std::chrono::milliseconds timeout = std::chrono::seconds{10}) {
  db_query q;
  q.kind = query_kind::app_last_seq;
  q.app_id = self->state.app_id;
  self->request(self->state.pool, timeout, query_atom_v, std::move(q))
    .then(
      [then, fail](db_answer& ans) mutable {
        auto j = nlohmann::json::parse(ans.body, nullptr, false);
        if (j.is_object() && j["last_seq"].is_number_integer() && j["key_id"].is_string()
            && j["is_active"].is_boolean())
          then(app_position{j["last_seq"].get<int64_t>(), j["key_id"].get<std::string>(),
                            j["is_active"].get<bool>()});
        else
          fail(make_error(errc::internal, "unexpected stream position"));
      },
      [fail](caf::error& err) mutable { fail(err); });
}

/// Closes the sessions whose key is no longer the app's, or all of them
/// when the app is disabled: a change this node did not hear of (it was
/// cut off from the node that made it, or a DBA made it) still ends them
/// within a check interval. Only sessions admitted up to `admitted_by`
/// (the count when the row was asked for): one admitted since may hold a
/// key newer than the row read.
void close_stale_sessions(tenant_ptr self, const app_position& app, uint64_t admitted_by) {
  for (const auto& sub : self->state.subscribers) {
    if (sub.filter.internal || sub.admitted > admitted_by)
      continue;
    if (!app.is_active)
      self->send(caf::actor_cast<ws_session_actor>(sub.session), close_atom_v, uint16_t{1008},
                 std::string{"app disabled"});
    else if (sub.filter.key_id != app.key_id)
      self->send(caf::actor_cast<ws_session_actor>(sub.session), close_atom_v, uint16_t{1008},
                 std::string{"key revoked"});
  }
}

/// Reads where the app's stream stands (retried until it succeeds).
void load_position(tenant_ptr self) {
  read_last_seq(
    self, [self](const app_position& app) { self->send(self, app_atom_v, app.last_seq); },
    [self](const caf::error& err) {
      log::warn("tenant: stream position unknown, retrying",
                {{"app_id", self->state.app_id}, {"error", message_of(err)}});
      self->delayed_send(self, std::chrono::seconds{1}, app_atom_v, int64_t{-1});
    });
}

/// Arms the periodic check of the app's seq (see gap_atom 0).
void schedule_check(tenant_ptr self) {
  auto& st = self->state;
  if (st.check_scheduled)
    return;
  st.check_scheduled = true;
  self->delayed_send(self, st.settings.check_interval, gap_atom_v, int64_t{0});
}

/// Sends the welcome to a new subscriber, starts its replay if it asked
/// for one, and adds it to the fan-out.
void admit(tenant_ptr self, subscriber sub) {
  auto& st = self->state;
  if (!sub.filter.internal && !sub.key_rechecked && st.closed_at > 0
      && sub.filter.authorized_at < st.closed_at) {
    // Its key was checked before the app's sessions were closed here: it
    // may be the revoked key, or the new one (a client that got the new key
    // and connected at once, before this actor handled the close). The
    // app's row, read now, after the change, tells which.
    auto closes = st.closes;
    read_last_seq(
      self,
      [self, sub, closes](const app_position& app) mutable {
        if (self->state.closes != closes) {
          // Another close came meanwhile: the row read may be older than
          // its change. Read again.
          admit(self, std::move(sub));
          return;
        }
        if (!app.is_active || sub.filter.key_id != app.key_id) {
          self->send(caf::actor_cast<ws_session_actor>(sub.session), close_atom_v,
                     uint16_t{1008},
                     std::string{app.is_active ? "key revoked" : "app disabled"});
          return;
        }
        sub.key_rechecked = true;
        admit(self, std::move(sub));
      },
      [self, session = sub.session](const caf::error&) {
        auto& s = self->state;
        self->send(caf::actor_cast<ws_session_actor>(session), close_atom_v, s.close_code,
                   s.close_reason);
      });
    return;
  }
  if (st.settings.sinks)
    sub.sink = st.settings.sinks->find(sub.session.address());
  push(self, sub, welcome_frame(st.app_id, st.settings.node_name, st.delivered));
  self->monitor(sub.session);
  bool replay = sub.filter.has_since && sub.filter.since < st.delivered;
  if (!replay)
    push(self, sub, head_end_marker()); // else after the replay's first read
  sub.replaying = replay;
  if (sub.filter.has_since)
    sub.skip_through = sub.filter.since; // also when this node is behind it
  sub.admitted = ++st.admissions;
  auto session = sub.session;
  auto since = sub.filter.since;
  add_subscriber(st, std::move(sub));
  schedule_check(self);
  if (replay)
    start_replay(self, session, since);
}

/// Pushes one event, in seq order, to every matching session.
void deliver(tenant_ptr self, const applied_event& ev) {
  auto& st = self->state;
  st.delivered = ev.seq;
  if (st.subscribers.empty())
    return;
  auto frame = event_frame(ev);
  // One immutable copy of the frame for every connection.
  auto shared = std::make_shared<const std::string>(std::move(frame.text));
  for (auto& sub : st.subscribers) {
    if (ev.seq <= sub.skip_through || !frame_matches(frame, sub.filter))
      continue;
    if (sub.replaying) {
      if (sub.overflowed)
        continue; // the next round of its replay reads it back
      if (sub.buffered.size() >= st.settings.max_buffered) {
        // Bounded memory: past the bound the held frames are dropped, and
        // the replay's next round reads them from the database.
        sub.buffered.clear();
        sub.buffered.shrink_to_fit();
        sub.overflowed = true;
        continue;
      }
      sub.buffered.emplace_back(ev.seq, shared);
    } else {
      push(self, sub, shared);
    }
  }
}

/// Delivers what is contiguous after `delivered`; arms the wait for a gap.
void flush(tenant_ptr self) {
  auto& st = self->state;
  while (!st.pending.empty()) {
    auto it = st.pending.begin();
    if (it->first <= st.delivered) {
      st.pending.erase(it); // a repeat
      continue;
    }
    if (it->first != st.delivered + 1)
      break;
    deliver(self, it->second);
    st.pending.erase(it);
  }
  if (st.pending.empty())
    st.pending_full = false; // the next time it fills is warned about again
  if (!st.pending.empty() && !st.gap_timer && !st.gap_filling) {
    st.gap_timer = true;
    self->delayed_send(self, st.settings.gap_wait, gap_atom_v, st.delivered + 1);
  }
}

tenant_actor::behavior_type tenant(tenant_ptr self, std::string app_id, db_pool_actor pool,
                                   tenant_settings settings) {
  auto& st = self->state;
  st.app_id = std::move(app_id);
  st.pool = std::move(pool);
  st.settings = std::move(settings);
  self->set_down_handler([self](caf::down_msg& msg) {
    remove_subscriber(self->state, msg.source.id());
  });
  // A failure (a bug, memory) ends this actor, whose sessions would then
  // wait for events that never come: each is closed with 1011 first, and
  // its client reconnects with `since` and gets what it missed from the
  // database. The registry spawns a fresh tenant on the app's next use.
  self->set_exception_handler([self](caf::scheduled_actor*, std::exception_ptr& eptr) -> caf::error {
    auto what = exception_text(eptr);
    count_internal_failure(failure_site::tenant);
    auto& st = self->state;
    log::error("an app's event stream failed on this node; its WebSocket sessions are closed"
               " (1011) and it starts afresh",
               {{"app_id", st.app_id}, {"error", what},
                {"sessions", std::to_string(st.subscribers.size() + st.waiting.size())}});
    for (const auto* list : {&st.subscribers, &st.waiting})
      for (const auto& sub : *list)
        self->send(caf::actor_cast<ws_session_actor>(sub.session), close_atom_v, uint16_t{1011},
                   std::string{"internal error, reconnect with since"});
    return caf::sec::runtime_error;
  });
  // Where the app's stream stands: new subscribers start after it.
  load_position(self);
  return {
    [=](app_atom, int64_t last_seq) {
      auto& st = self->state;
      if (st.loaded)
        return;
      if (last_seq < 0) { // retry of a failed read
        load_position(self);
        return;
      }
      st.loaded = true;
      // Events received while reading that the position already covers
      // were committed before any subscriber came: flush drops them.
      st.delivered = last_seq;
      for (auto& sub : st.waiting)
        admit(self, std::move(sub));
      st.waiting.clear();
      flush(self);
    },
    [=](caf::publish_atom, applied_event& ev) {
      auto& st = self->state;
      if (st.settings.fail_at_seq != 0 && ev.seq == st.settings.fail_at_seq) {
        if (st.settings.fail_hold.count() > 0) {
          // Tests only: what arrives meanwhile queues behind the failure.
          log::warn("test hook: the tenant holds before it fails",
                    {{"seq", std::to_string(ev.seq)}});
          std::this_thread::sleep_for(st.settings.fail_hold);
        }
        throw std::runtime_error("test hook: the tenant fails at seq "
                                 + std::to_string(ev.seq));
      }
      ++st.received;
      if (st.loaded && ev.seq <= st.delivered)
        return; // a repeat (another node's copy, a gap filling's)
      if (st.pending.size() >= max_pending(st.settings)) {
        // Bounded memory (a gap that takes long to fill, a database this
        // node cannot reach while its peers publish on): the lowest seqs,
        // needed first, are kept; a newer one is dropped and read back from
        // the database when its turn comes (every event is stored before it
        // is published, and a seq beyond `delivered` is always fetched: by
        // the gap wait when a later event comes, else by the periodic check).
        if (!st.pending_full) {
          st.pending_full = true;
          log::warn("event stream: too many events held ahead of a missing seq; newer ones"
                    " will be read back from the database",
                    {{"app_id", st.app_id},
                     {"held", std::to_string(st.pending.size())},
                     {"waiting_for", std::to_string(st.delivered + 1)}});
        }
        if (ev.seq > std::prev(st.pending.end())->first)
          return;
        st.pending.erase(std::prev(st.pending.end()));
      }
      st.pending.emplace(ev.seq, std::move(ev));
      if (st.loaded)
        flush(self);
    },
    [=](gap_atom, int64_t expected) {
      auto& st = self->state;
      if (expected == 0) {
        // The periodic check: a lost publish of the newest event has no
        // later event to reveal it, so the app's seq is compared now and
        // then while sessions listen.
        st.check_scheduled = false;
        if (st.subscribers.empty())
          return;
        schedule_check(self);
        if (!st.loaded || st.gap_filling || !st.pending.empty())
          return;
        read_last_seq(
          self,
          [self, admitted_by = st.admissions](const app_position& app) {
            close_stale_sessions(self, app, admitted_by);
            if (self->state.pending.empty())
              catch_up(self, app.last_seq);
          },
          [](const caf::error&) {}); // the next check tries again
        return;
      }
      st.gap_timer = false;
      if (st.delivered + 1 != expected || st.pending.empty() || st.gap_filling)
        return flush(self);
      // A later seq came but not this one (its publish is late or lost):
      // the missing events are committed (seqs are taken under the app
      // row's lock), so they are read back from the database.
      catch_up(self, st.pending.begin()->first - 1);
    },
    [=](subscribe_atom, caf::actor& session, ws_filter& filter) -> bool {
      auto& st = self->state;
      if (take_one(st.settings.fail_subscribes))
        throw std::runtime_error("test hook: the tenant fails on a subscription");
      subscriber sub;
      sub.session = std::move(session);
      sub.filter = std::move(filter);
      if (!st.loaded)
        st.waiting.push_back(std::move(sub));
      else
        admit(self, std::move(sub));
      return true;
    },
    [=](unsubscribe_atom, caf::actor& session) {
      auto& st = self->state;
      self->demonitor(session);
      remove_subscriber(st, session.id());
      std::erase_if(st.waiting, [&](const subscriber& s) { return s.session == session; });
    },
    [=](close_atom, uint16_t code, std::string& reason) {
      auto& st = self->state;
      st.closed_at = std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::steady_clock::now().time_since_epoch())
                       .count();
      st.close_code = code;
      st.close_reason = reason;
      ++st.closes;
      if (st.subscribers.empty())
        return; // nothing to close; sessions still waiting are checked when admitted
      // The app's key was revoked or the app disabled: every session that
      // came in with another key than the app's now goes (all of them when
      // the app is disabled); the operator console's view stays. The row is
      // read after the change: a session opened with the new key before the
      // close reached this node (over the cluster link) stays. Sessions
      // still waiting for the stream position are checked when admitted.
      // The read is bounded to 1 s: past that (the pool saturated, the
      // database gone) every session goes rather than a revoked key
      // streaming on.
      read_last_seq(
        self,
        [self, admitted_by = st.admissions](const app_position& app) {
          close_stale_sessions(self, app, admitted_by);
        },
        [self, code, reason](const caf::error&) {
          for (const auto& sub : self->state.subscribers)
            if (!sub.filter.internal)
              self->send(caf::actor_cast<ws_session_actor>(sub.session), close_atom_v, code,
                         reason);
          for (const auto& sub : self->state.waiting)
            if (!sub.filter.internal)
              self->send(caf::actor_cast<ws_session_actor>(sub.session), close_atom_v, code,
                         reason);
        },
        std::chrono::seconds{1});
    },
    [=](crm_atom, int64_t dialpad_user) -> caf::result<std::string> {
      auto& st = self->state;
      if (auto it = st.mappings.find(dialpad_user); it != st.mappings.end())
        return it->second.value_or(std::string{});
      auto rp = self->make_response_promise<std::string>();
      auto& waiting = st.loading[dialpad_user];
      waiting.push_back(rp);
      if (waiting.size() > 1)
        return rp;
      db_query q;
      q.kind = query_kind::mapping_by_dialpad;
      q.app_id = st.app_id;
      q.target = std::to_string(dialpad_user);
      auto gen = st.generation;
      auto finish = [self, dialpad_user, gen](std::optional<std::string> crm, bool keep) {
        auto& st = self->state;
        auto node = st.loading.extract(dialpad_user);
        if (keep && gen == st.generation)
          st.mappings[dialpad_user] = crm;
        if (!node.empty())
          for (auto& p : node.mapped())
            p.deliver(crm.value_or(std::string{}));
      };
      self->request(st.pool, std::chrono::seconds{5}, query_atom_v, std::move(q))
        .then(
          [finish](db_answer& ans) {
            auto j = nlohmann::json::parse(ans.body, nullptr, false);
            if (j.is_object() && j.contains("crm_user_id") && j["crm_user_id"].is_string())
              finish(j["crm_user_id"].get<std::string>(), true);
            else
              finish(std::nullopt, false);
          },
          [self, dialpad_user, finish](caf::error& err) {
            if (errc_of(err) == errc::not_found) {
              finish(std::nullopt, true); // unmapped
              return;
            }
            auto node = self->state.loading.extract(dialpad_user);
            if (!node.empty())
              for (auto& p : node.mapped())
                p.deliver(err);
          });
      return rp;
    },
    [=](invalidate_atom) {
      auto& st = self->state;
      st.mappings.clear();
      ++st.generation;
    },
    [=](stats_atom) -> std::vector<int64_t> {
      auto& st = self->state;
      return {st.delivered, static_cast<int64_t>(st.received),
              static_cast<int64_t>(st.mappings.size()),
              static_cast<int64_t>(st.subscribers.size())};
    },
  };
}

} // namespace

tenant_actor spawn_tenant(caf::local_actor* parent, std::string app_id, db_pool_actor pool,
                          tenant_settings settings) {
  return parent->spawn<caf::linked>(tenant, std::move(app_id), std::move(pool),
                                    std::move(settings));
}

} // namespace cti
