#include "actors/queue_poller.hpp"

#include <optional>
#include <stdexcept>
#include <string>

#include <caf/all.hpp>

#include "actors/processing_stats.hpp"
#include "actors/tenant_cache.hpp"
#include "domain/exception_text.hpp"
#include "domain/log.hpp"
#include "domain/time_format.hpp"

namespace cti {

namespace {

/// One poller's loop state.
struct queue_poller_state {
  static inline const char* name = "queue_poller";
  poller_settings settings;
  db_pool_actor pool;
  tenant_registry_actor registry;
  std::shared_ptr<processing_stats> stats;
  std::shared_ptr<tenant_cache> tenants;
  bool busy = false;   ///< A round is running.
  bool again = false;  ///< Woken while busy: run another round after it.
  bool again_full = false; ///< ... and that round must start from the oldest.
  bool again_settled = false; ///< ... and only scheduled rounds asked for it.
  bool settled = false; ///< The running round is a scheduled one (settled events only).
  bool db_down = false;
  /// The next round's size (next_round_size).
  uint32_t round_size = 0;
  /// Where a claim woken by new events starts (from the last round). The
  /// periodic tick and a `rescan` (a replay) start from the oldest pending
  /// event instead, so retries that became due and replayed events, which
  /// lie before the cursor, are never stranded.
  std::optional<std::pair<int64_t, std::string>> cursor;
  /// When the last round that claimed from the oldest pending event began.
  std::chrono::steady_clock::time_point last_full{};
  /// A full round is already scheduled (full_every after the last one).
  bool full_scheduled = false;
};

using poller_ptr = queue_poller_actor::stateful_pointer<queue_poller_state>;

/// Runs a round now, or right after the running one. `full`: claim from the
/// oldest pending event rather than from the cursor. `settled`: a scheduled
/// round (the tick, the look from the oldest once a second), which claims
/// from the oldest only events received `settled_age` ago or more, and does
/// not flag the poller busy: wakes for new events keep going to the round
/// woken for the events before them. Until the twenty-eighth session such a
/// round took fresh events too, beside a slow round holding an earlier one,
/// and committed them first (a lower `seq` for a later event).
void poll(poller_ptr self, bool full, bool settled = false) {
  auto& st = self->state;
  if (st.busy) {
    // The next round does what any of its askers needs.
    st.again_settled = st.again ? st.again_settled && settled : settled;
    st.again = true;
    st.again_full = st.again_full || full;
    return;
  }
  st.busy = true;
  st.settled = settled;
  if (st.settings.busy && !settled)
    st.settings.busy->store(std::chrono::steady_clock::now().time_since_epoch().count(),
                            std::memory_order_relaxed);
  st.again = false;
  st.again_full = false;
  st.again_settled = false;
  if (settled)
    full = true;
  auto started = std::chrono::steady_clock::now();
  // From the oldest pending event at least every full_every: an event
  // committed after the cursor passed its received_at is found then. A
  // round from the cursor in between schedules that full round, so it
  // comes even if nothing wakes the poller again.
  if (!st.cursor || started - st.last_full >= st.settings.full_every)
    full = true;
  if (full) {
    st.last_full = started;
  } else if (!st.full_scheduled) {
    st.full_scheduled = true;
    self->delayed_send(self, st.last_full + st.settings.full_every - started, poll_atom_v);
  }
  auto job = st.settings.process;
  job.batch_size = st.round_size;
  job.min_age_ms = settled ? static_cast<uint32_t>(st.settings.settled_age.count()) : 0;
  if (!full) {
    job.has_after = true;
    job.after_us = st.cursor->first;
    job.after_id = st.cursor->second;
  }
  self->request(st.pool, st.settings.db_timeout, process_atom_v, std::move(job))
    .then(
      [self, started](process_report& report) {
        auto& s = self->state;
        s.busy = false;
        // A full batch means more may be waiting.
        // (Not when some were left for later: the same claim would find them
        // again at once.)
        // Events an erase holds count as gone through: the cursor moved
        // past them (db/processor.cpp), so a round full of them means more
        // may wait behind them, as a full round does.
        const uint32_t through = report.claimed - (report.deferred - report.erasing);
        // (A round that left locked events unread, past its payload
        // bytes, is one too.)
        bool full = through >= s.round_size || report.left_over > 0;
        s.round_size = next_round_size({s.round_size, through,
                                        report.failed, report.payload_bytes, report.claimed},
                                       s.settings.process.batch_size, s.settings.max_batch_size);
        // Idle only when no round follows at once: a wake that read "idle"
        // between this round and the next would go to another poller, which
        // could apply a newer event beside the next round and commit first.
        // (A scheduled round never flagged itself; a stamp there is the
        // waker's, for a wake on its way.)
        const bool was_settled = s.settled;
        if (s.settings.busy && !(s.again || full) && !was_settled)
          s.settings.busy->store(0, std::memory_order_relaxed);
        if (s.db_down) {
          s.db_down = false;
          log::info("event processing resumed");
        }
        // A round that claimed nothing keeps the cursor: nothing is pending
        // after it but what arrives next.
        if (report.has_next)
          s.cursor.emplace(report.next_us, std::move(report.next_id));
        for (const auto& f : report.failures)
          log::write(f.dead ? log::level::error : log::level::warn,
                     f.dead ? "event processing failed for the last time: the event is dead"
                            : "event processing failed; it will be retried",
                     {{"event_id", f.event_id}, {"app_id", f.app_id},
                      {"attempts", std::to_string(f.attempts)}, {"error", f.error}});
        if (report.failed > report.failures.size())
          log::warn("more events failed processing in this round",
                    {{"unnamed", std::to_string(report.failed - report.failures.size())}});
        // Deferred and failed events were not processed (yet).
        s.stats->record_round(report.claimed - report.deferred - report.failed, report.failed,
                              std::chrono::duration_cast<std::chrono::microseconds>(
                                std::chrono::steady_clock::now() - started));
        if (!report.received_us.empty()) {
          auto now_us = now_utc().time_since_epoch().count();
          for (auto at : report.received_us)
            s.stats->record_event_latency(std::chrono::microseconds{now_us - at});
        }
        if (s.settings.fail_at_seq != 0)
          for (const auto& ev : report.applied)
            if (ev.seq == s.settings.fail_at_seq)
              throw std::runtime_error("test hook: the poller fails after applying seq "
                                       + std::to_string(ev.seq));
        // Published only now: the round has committed. Cached answers about
        // the changed apps go first (the registry would drop them too, a
        // message later).
        if (s.tenants)
          for (const auto& ev : report.applied)
            s.tenants->bump(ev.app_id);
        for (auto& ev : report.applied)
          self->send(s.registry, caf::publish_atom_v, std::move(ev));
        if (s.again || full) {
          // A full scheduled round goes on as one, unless a wake came.
          poll(self, s.again_full, s.again ? s.again_settled : was_settled);
          // A backlog: share it (after poll() marked this poller busy
          // again, so the sibling woken is another one; a scheduled round
          // is not marked, and the wake may come back to this poller, which
          // then runs one more round: no harm).
          if (full && s.settings.wake_sibling)
            s.settings.wake_sibling();
        } else if (report.deferred > report.erasing) {
          // Another poller held some calls: come back once it has committed.
          // (Not for events an erase holds: its commit asks for a rescan.
          // Coming back every few ms only claimed them again, for the
          // whole erase.)
          self->delayed_send(self, s.settings.deferred_retry, wake_atom_v);
        }
      },
      [self](caf::error& err) {
        auto& s = self->state;
        s.busy = false;
        if (s.settings.busy)
          s.settings.busy->store(0, std::memory_order_relaxed);
        s.cursor.reset();
        s.round_size = s.settings.process.batch_size;
        // New events were announced during the failed round (a wake goes
        // to a poller in a fresh round, so nobody else took them): look
        // again shortly rather than at the next tick.
        if (s.again) {
          s.again = false;
          s.again_full = false;
          self->delayed_send(self, s.settings.failed_retry, wake_atom_v);
        }
        // The database is away (or slow): the next tick or wake retries.
        if (!s.db_down) {
          s.db_down = true;
          log::warn("event processing paused", {{"error", to_string(errc_of(err))}});
        }
      });
}

queue_poller_actor::behavior_type queue_poller(poller_ptr self, db_pool_actor pool,
                                               tenant_registry_actor registry,
                                               std::shared_ptr<processing_stats> stats,
                                               poller_settings settings,
                                               std::shared_ptr<tenant_cache> tenants) {
  auto& st = self->state;
  st.pool = std::move(pool);
  st.registry = std::move(registry);
  st.stats = std::move(stats);
  st.tenants = std::move(tenants);
  st.settings = settings;
  st.round_size = settings.process.batch_size;
  // A failed batch is retried one by one for at most a round's base size.
  st.settings.process.alone_max = settings.process.batch_size;
  // And it loads at most the round's payload budget (next_round_size aims
  // at it from the last round's mean; this holds when sizes change).
  st.settings.process.max_bytes = round_bytes_budget;
  // An exception ends the poller (the node guard replaces it): its message
  // goes into the reason, which the guard logs.
  self->set_exception_handler([](caf::scheduled_actor*, std::exception_ptr& eptr) -> caf::error {
    auto what = exception_text(eptr);
    return caf::make_error(caf::sec::runtime_error, std::move(what));
  });
  // Start with a round of everything: events may have queued while no node
  // was running.
  self->send(self, rescan_atom_v);
  self->delayed_send(self, st.settings.interval, caf::tick_atom_v);
  return {
    [=](wake_atom) { poll(self, false); },
    [=](rescan_atom) { poll(self, true); },
    [=](poll_atom) {
      self->state.full_scheduled = false;
      poll(self, true, true);
    },
    [=](caf::tick_atom) {
      poll(self, true, true);
      self->delayed_send(self, self->state.settings.interval, caf::tick_atom_v);
    },
  };
}

} // namespace

queue_poller_actor spawn_queue_poller(caf::actor_system& sys, db_pool_actor pool,
                                      tenant_registry_actor registry,
                                      std::shared_ptr<processing_stats> stats,
                                      poller_settings settings,
                                      std::shared_ptr<tenant_cache> tenants) {
  return sys.spawn(queue_poller, std::move(pool), std::move(registry), std::move(stats),
                   settings, std::move(tenants));
}

} // namespace cti
