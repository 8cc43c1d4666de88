#include "db/listener.hpp"

#include <algorithm>
#include <memory>
#include <optional>

#include <caf/all.hpp>
#include <pqxx/pqxx>

#include "db/events_repo.hpp"
#include "domain/log.hpp"

namespace cti::db {

namespace {

/// Counts notifications on the events channel, by sender.
class events_receiver : public pqxx::notification_receiver {
public:
  events_receiver(pqxx::connection_base& c, std::shared_ptr<const backend_pids> own)
    : pqxx::notification_receiver(c, events_channel), own_(std::move(own)) {
  }
  void operator()(const std::string& payload, int backend_pid) override {
    if (payload == rescan_payload)
      ++rescans;
    else if (!own_)
      ++unknown;
    else if (!own_->contains(backend_pid))
      ++foreign;
  }
  uint64_t rescans = 0;
  uint64_t foreign = 0; ///< Sent by a backend that is not one of this node's.
  uint64_t unknown = 0; ///< Sent while this node does not know its backends.

private:
  std::shared_ptr<const backend_pids> own_;
};

/// The connection and its receiver (declared after it, destroyed first).
struct listener_state {
  static inline const char* name = "event_listener";
  listener_settings settings;
  std::unique_ptr<pqxx::connection> conn;
  std::unique_ptr<events_receiver> receiver;
  std::chrono::milliseconds backoff{0};
  bool was_connected = false;
  /// Another node's notifications wait for a wake-up until this time.
  std::optional<std::chrono::steady_clock::time_point> foreign_due;
};

using listener_ptr = event_listener_actor::stateful_pointer<listener_state>;

bool connect(listener_ptr self) {
  auto& st = self->state;
  try {
    st.receiver.reset();
    st.conn = std::make_unique<pqxx::connection>(st.settings.conninfo);
    st.receiver = std::make_unique<events_receiver>(*st.conn, st.settings.own); // issues LISTEN
    st.backoff = st.settings.min_backoff;
    if (st.was_connected)
      log::info("event listener reconnected");
    st.was_connected = true;
    return true;
  } catch (const std::exception& e) {
    st.receiver.reset();
    st.conn.reset();
    log::debug("event listener cannot connect", {{"error", e.what()}});
    return false;
  }
}

void retry_later(listener_ptr self) {
  auto& st = self->state;
  self->delayed_send(self, st.backoff, reconnect_atom_v);
  st.backoff = std::min(st.backoff * 2, st.settings.max_backoff);
}

event_listener_actor::behavior_type event_listener(listener_ptr self, listener_settings settings) {
  auto& st = self->state;
  st.settings = std::move(settings);
  if (!st.settings.waker)
    st.settings.waker = std::make_shared<poller_waker>();
  st.backoff = st.settings.min_backoff;
  if (connect(self))
    self->send(self, poll_atom_v);
  else
    retry_later(self);
  return {
    [=](poll_atom) {
      auto& s = self->state;
      if (!s.conn)
        return;
      try {
        auto rescans_before = s.receiver->rescans;
        auto foreign_before = s.receiver->foreign;
        auto unknown_before = s.receiver->unknown;
        auto wait = std::chrono::duration_cast<std::chrono::microseconds>(s.settings.slice);
        if (s.foreign_due)
          wait = std::clamp(std::chrono::duration_cast<std::chrono::microseconds>(
                              *s.foreign_due - std::chrono::steady_clock::now()),
                            std::chrono::microseconds{0}, wait);
        // Blocking is fine here: this detached actor owns its thread.
        s.conn->await_notification(static_cast<long>(wait.count() / 1000000),
                                   static_cast<long>(wait.count() % 1000000));
        auto foreign = s.receiver->foreign - foreign_before;
        auto unknown = s.receiver->unknown - unknown_before;
        auto now = std::chrono::steady_clock::now();
        // This node's own notifications wake nobody: the worker that
        // stored the events woke a poller as it committed them.
        if (s.receiver->rescans != rescans_before)
          s.settings.waker->rescan();
        else if (unknown > 0)
          s.settings.waker->wake(unknown);
        if (foreign > 0 && !s.foreign_due)
          s.foreign_due = now + s.settings.foreign_delay;
        if (s.foreign_due && now >= *s.foreign_due) {
          s.foreign_due.reset();
          s.settings.waker->wake();
        }
        self->send(self, poll_atom_v);
      } catch (const std::exception& e) {
        log::warn("event listener lost its connection", {{"error", e.what()}});
        s.receiver.reset();
        s.conn.reset();
        retry_later(self);
      }
    },
    [=](reconnect_atom) {
      if (self->state.conn)
        return;
      if (!connect(self)) {
        retry_later(self);
        return;
      }
      // Notifications sent while we were away are lost: poll once anyway.
      self->state.settings.waker->rescan();
      self->send(self, poll_atom_v);
    },
  };
}

} // namespace

event_listener_actor spawn_event_listener(caf::actor_system& sys, listener_settings settings) {
  return sys.spawn<caf::detached>(event_listener, std::move(settings));
}

} // namespace cti::db
