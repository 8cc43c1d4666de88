#include "actors/tenant.hpp"

#include <map>
#include <optional>
#include <unordered_map>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "actors/ws_stream.hpp"
#include "domain/log.hpp"

namespace cti {

namespace {

/// One WebSocket session of the app on this node.
struct subscriber {
  caf::actor session;
  ws_filter filter;
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
  std::vector<subscriber> subscribers;
  std::vector<subscriber> waiting; ///< Subscribed before `delivered` was known.
  // -- user mappings -----------------------------------------------------------
  /// Dialpad user → CRM user (nullopt: known to be unmapped).
  std::unordered_map<int64_t, std::optional<std::string>> mappings;
  /// Loads in flight and who waits for them.
  std::map<int64_t, std::vector<caf::typed_response_promise<std::string>>> loading;
  uint64_t generation = 0;     ///< Bumped by invalidation: late loads are not kept.
};

using tenant_ptr = tenant_actor::stateful_pointer<tenant_state>;

/// Sends the welcome (and, for now, the replay's truncation notice) to a
/// new subscriber and adds it to the fan-out.
void admit(tenant_ptr self, subscriber sub) {
  auto& st = self->state;
  self->send(caf::actor_cast<ws_session_actor>(sub.session), frame_atom_v,
             welcome_frame(st.app_id, st.settings.node_name, st.delivered));
  if (sub.filter.has_since && sub.filter.since < st.delivered) {
    // TODO(issue 5): replay the retained events seq > since from the
    // database. Until then the client learns that nothing before the
    // next live event will come.
    self->send(caf::actor_cast<ws_session_actor>(sub.session), frame_atom_v,
               replay_truncated_frame(st.delivered + 1));
  }
  self->monitor(sub.session);
  st.subscribers.push_back(std::move(sub));
}

/// Pushes one event, in seq order, to every matching session.
void deliver(tenant_ptr self, const applied_event& ev) {
  auto& st = self->state;
  st.delivered = ev.seq;
  if (st.subscribers.empty())
    return;
  auto frame = event_frame(ev);
  for (const auto& sub : st.subscribers)
    if (frame_matches(frame, sub.filter))
      self->send(caf::actor_cast<ws_session_actor>(sub.session), frame_atom_v, frame.text);
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
  if (!st.pending.empty() && !st.gap_timer) {
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
    std::erase_if(self->state.subscribers,
                  [&](const subscriber& s) { return s.session.address() == msg.source; });
  });
  // Where the app's stream stands: new subscribers start after it.
  db_query q;
  q.kind = query_kind::app_last_seq;
  q.app_id = st.app_id;
  self->request(st.pool, std::chrono::seconds{10}, query_atom_v, std::move(q))
    .then(
      [self](db_answer& ans) {
        auto j = nlohmann::json::parse(ans.body, nullptr, false);
        int64_t seq = j.is_object() && j["last_seq"].is_number_integer() ? j["last_seq"].get<int64_t>() : 0;
        self->send(self, app_atom_v, seq);
      },
      [self](caf::error& err) {
        log::warn("tenant: stream position unknown, starting from the events received",
                  {{"app_id", self->state.app_id}, {"error", message_of(err)}});
        int64_t first = self->state.pending.empty() ? 0 : self->state.pending.begin()->first - 1;
        self->send(self, app_atom_v, first);
      });
  return {
    [=](app_atom, int64_t last_seq) {
      auto& st = self->state;
      if (st.loaded)
        return;
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
      ++st.received;
      st.pending.emplace(ev.seq, std::move(ev));
      if (st.loaded)
        flush(self);
    },
    [=](gap_atom, int64_t expected) {
      auto& st = self->state;
      st.gap_timer = false;
      if (st.delivered + 1 != expected || st.pending.empty())
        return flush(self);
      // TODO(issue 5): read the missing events from the database. Until
      // then the stream moves on past the gap (a client can tell by seq).
      log::warn("event stream gap skipped",
                {{"app_id", st.app_id}, {"missing_from", std::to_string(expected)},
                 {"resumes_at", std::to_string(st.pending.begin()->first)}});
      st.delivered = st.pending.begin()->first - 1;
      flush(self);
    },
    [=](subscribe_atom, caf::actor& session, ws_filter& filter) {
      auto& st = self->state;
      subscriber sub{std::move(session), std::move(filter)};
      if (!st.loaded)
        st.waiting.push_back(std::move(sub));
      else
        admit(self, std::move(sub));
    },
    [=](unsubscribe_atom, caf::actor& session) {
      auto& st = self->state;
      self->demonitor(session);
      std::erase_if(st.subscribers, [&](const subscriber& s) { return s.session == session; });
      std::erase_if(st.waiting, [&](const subscriber& s) { return s.session == session; });
    },
    [=](close_atom, uint16_t code, std::string& reason) {
      auto& st = self->state;
      for (const auto& sub : st.subscribers)
        self->send(caf::actor_cast<ws_session_actor>(sub.session), close_atom_v, code, reason);
      for (const auto& sub : st.waiting)
        self->send(caf::actor_cast<ws_session_actor>(sub.session), close_atom_v, code, reason);
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
