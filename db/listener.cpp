#include "db/listener.hpp"

#include <algorithm>
#include <memory>

#include <caf/all.hpp>
#include <pqxx/pqxx>

#include "db/events_repo.hpp"
#include "domain/log.hpp"

namespace cti::db {

namespace {

/// Counts notifications on the events channel.
class events_receiver : public pqxx::notification_receiver {
public:
  explicit events_receiver(pqxx::connection_base& c)
    : pqxx::notification_receiver(c, events_channel) {
  }
  void operator()(const std::string& payload, int) override {
    ++received;
    if (payload == rescan_payload)
      ++rescans;
  }
  uint64_t received = 0;
  uint64_t rescans = 0;
};

/// The connection and its receiver (declared after it, destroyed first).
struct listener_state {
  static inline const char* name = "event_listener";
  listener_settings settings;
  std::vector<queue_poller_actor> pollers;
  std::unique_ptr<pqxx::connection> conn;
  std::unique_ptr<events_receiver> receiver;
  std::chrono::milliseconds backoff{0};
  bool was_connected = false;
  std::size_t next_poller = 0; ///< The poller the next notification wakes.
};

using listener_ptr = event_listener_actor::stateful_pointer<listener_state>;

/// New events: wakes one poller per notification (at most all of them),
/// idle ones first, in turn. Waking every poller of every node for each
/// notification made all of them claim at once, and all but one claim
/// nothing: on a cluster of three nodes, a dozen round trips per
/// notification. A busy poller that is woken runs another round after its
/// own. A rescan (a replayed event lies before the pollers' positions)
/// still goes to all.
void wake_pollers(listener_ptr self, bool rescan = false, uint64_t notifications = 1) {
  auto& st = self->state;
  const auto count = st.pollers.size();
  if (count == 0)
    return;
  if (rescan) {
    for (auto& p : st.pollers)
      self->send(p, rescan_atom_v);
    return;
  }
  auto n = std::min<uint64_t>(std::max<uint64_t>(notifications, 1), count);
  std::vector<bool> woken(count, false);
  auto idle = [&](std::size_t i) {
    return i >= st.settings.busy.size() || !st.settings.busy[i]
           || !st.settings.busy[i]->load(std::memory_order_relaxed);
  };
  for (uint64_t k = 0; k < n; ++k) {
    std::size_t pick = st.next_poller % count;
    for (std::size_t j = 0; j < count; ++j) {
      auto i = (st.next_poller + j) % count;
      if (!woken[i] && idle(i)) {
        pick = i;
        break;
      }
    }
    woken[pick] = true;
    st.next_poller = pick + 1;
    self->send(st.pollers[pick], wake_atom_v);
  }
}

bool connect(listener_ptr self) {
  auto& st = self->state;
  try {
    st.receiver.reset();
    st.conn = std::make_unique<pqxx::connection>(st.settings.conninfo);
    st.receiver = std::make_unique<events_receiver>(*st.conn); // issues LISTEN
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

event_listener_actor::behavior_type event_listener(listener_ptr self, listener_settings settings,
                                                   std::vector<queue_poller_actor> pollers) {
  auto& st = self->state;
  st.settings = std::move(settings);
  st.pollers = std::move(pollers);
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
        auto before = s.receiver->received;
        auto rescans_before = s.receiver->rescans;
        auto usec = std::chrono::duration_cast<std::chrono::microseconds>(s.settings.slice);
        // Blocking is fine here: this detached actor owns its thread.
        s.conn->await_notification(static_cast<long>(usec.count() / 1000000),
                                   static_cast<long>(usec.count() % 1000000));
        if (s.receiver->received != before)
          wake_pollers(self, s.receiver->rescans != rescans_before, s.receiver->received - before);
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
      wake_pollers(self, true);
      self->send(self, poll_atom_v);
    },
  };
}

} // namespace

event_listener_actor spawn_event_listener(caf::actor_system& sys, listener_settings settings,
                                          std::vector<queue_poller_actor> pollers) {
  return sys.spawn<caf::detached>(event_listener, std::move(settings), std::move(pollers));
}

} // namespace cti::db
