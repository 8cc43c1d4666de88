#include "actors/node_guard.hpp"

#include <algorithm>

#include <caf/all.hpp>

#include "domain/internal_failures.hpp"
#include "domain/log.hpp"

namespace cti {

namespace {

/// One place for a poller.
struct guarded_poller {
  queue_poller_actor handle;
  std::chrono::steady_clock::time_point started;
  /// The delay before the next replacement, if it fails quickly.
  std::chrono::milliseconds delay{0};
};

struct node_guard_state {
  static inline const char* name = "node_guard";
  node_guard_settings settings;
  std::vector<guarded_poller> pollers;
  bool fatal = false;
};

using guard_ptr = caf::stateful_actor<node_guard_state>*;

void watch_poller(guard_ptr self, std::size_t i, queue_poller_actor handle) {
  auto& p = self->state.pollers[i];
  p.handle = std::move(handle);
  p.started = std::chrono::steady_clock::now();
  self->link_to(p.handle);
}

/// A poller has ended (`reason`): a fresh one takes its place, at once or,
/// when it failed soon after its start, after a growing delay.
void poller_ended(guard_ptr self, std::size_t i, const caf::error& reason) {
  auto& st = self->state;
  auto& p = st.pollers[i];
  p.handle = nullptr;
  if (std::chrono::steady_clock::now() - p.started < st.settings.quick_failure)
    p.delay = p.delay.count() == 0 ? st.settings.first_delay
                                   : std::min(p.delay * 2, st.settings.max_delay);
  else
    p.delay = std::chrono::milliseconds{0};
  count_internal_failure(failure_site::queue_poller);
  log::error("a queue poller failed; a fresh one takes its place",
             {{"poller", std::to_string(i)},
              {"reason", caf::to_string(reason)},
              {"delay_ms", std::to_string(p.delay.count())}});
  if (p.delay.count() == 0)
    watch_poller(self, i, st.settings.spawn_poller(i));
  else
    self->delayed_send(self, p.delay, start_atom_v, static_cast<uint64_t>(i));
}

caf::behavior node_guard(guard_ptr self, node_guard_settings settings) {
  auto& st = self->state;
  st.settings = std::move(settings);
  st.pollers.resize(st.settings.pollers.size());
  for (std::size_t i = 0; i < st.pollers.size(); ++i)
    watch_poller(self, i, st.settings.pollers[i]);
  st.settings.pollers.clear();
  for (auto& [name, a] : st.settings.core)
    if (a)
      self->monitor(a);
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& ps = self->state.pollers;
    auto it = std::find_if(ps.begin(), ps.end(), [&](const guarded_poller& p) {
      return p.handle && p.handle.address() == msg.source;
    });
    if (it == ps.end()) {
      // Ours (anon_send_exit names the receiver): the node stops. The
      // links take the pollers along.
      self->quit(std::move(msg.reason));
      return;
    }
    if (msg.reason == caf::exit_reason::user_shutdown) {
      it->handle = nullptr;
      return;
    }
    poller_ended(self, static_cast<std::size_t>(it - ps.begin()), msg.reason);
  });
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    auto it = std::find_if(st.settings.core.begin(), st.settings.core.end(),
                           [&](const auto& c) { return c.second.address() == msg.source; });
    if (it == st.settings.core.end() || msg.reason == caf::exit_reason::user_shutdown
        || st.fatal)
      return;
    st.fatal = true;
    log::error("a core actor of this node has ended; stopping the node (exit code 70) for its"
               " service manager to restart it",
               {{"actor", it->first}, {"reason", caf::to_string(msg.reason)}});
    if (st.settings.on_fatal)
      st.settings.on_fatal(it->first);
  });
  return {
    [self](start_atom, uint64_t i) { // a poller's place, after its delay
      auto& st = self->state;
      if (i < st.pollers.size() && !st.pollers[i].handle)
        watch_poller(self, static_cast<std::size_t>(i), st.settings.spawn_poller(i));
    },
  };
}

} // namespace

caf::actor spawn_node_guard(caf::actor_system& sys, node_guard_settings settings) {
  return sys.spawn(node_guard, std::move(settings));
}

} // namespace cti
