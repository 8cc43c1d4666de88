#include "actors/dialpad.hpp"

#include <algorithm>
#include <array>
#include <deque>
#include <map>
#include <random>
#include <vector>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "domain/event_model.hpp"
#include "domain/log.hpp"
#include "domain/oauth.hpp"
#include "domain/seal.hpp"
#include "domain/secure_random.hpp"
#include "domain/url.hpp"
#include "domain/validation.hpp"

namespace cti {

namespace {

using json = nlohmann::json;
using sys_clock = std::chrono::system_clock;

/// How long a node may hold a refresh lease before another may take over:
/// longer than the call to Dialpad and the store after it may take.
std::chrono::milliseconds refresh_lease(const config& cfg) {
  return std::max(std::chrono::milliseconds{60000},
                  std::chrono::milliseconds{2 * cfg.dialpad_timeout_ms + 15000});
}

double jitter() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>{0.0, 1.0}(rng);
}

db_query query_of(query_kind kind, const std::string& app, json args = json::object()) {
  db_query q;
  q.kind = kind;
  q.app_id = app;
  q.args = args.dump();
  return q;
}

// -- refresher ----------------------------------------------------------------------

struct refresher_state {
  static inline const char* name = "dialpad_refresher";
  std::shared_ptr<const dialpad_settings> settings;
  dialpad_actor manager;
  std::string app;
  /// Done: waiting for the manager's stop. Asks are answered at once with
  /// what is known; timers and refreshes are over.
  bool ending = false;
  bool loaded = false;
  bool connected = false;
  bool busy = false;             ///< A load or a refresh is running.
  std::string environment;
  bool has_refresh = true;       ///< The connection holds a refresh token.
  std::string access_token;      ///< Plain, in memory only.
  sys_clock::time_point expires_at{};
  /// No refresh before this (the stored next_refresh_at: a short-lived
  /// token's halfway point, or a backoff).
  sys_clock::time_point not_before{};
  uint64_t timer = 0;            ///< Generation of the pending timer.
  /// Reads of the connection asked for because it changed (a disconnect or
  /// reconnect on another node, a token Dialpad refused), and how many of
  /// those asks the last finished read covers. While one is outstanding the
  /// token in hand is not handed out (it may be one nobody may use any
  /// more), unless the read fails: then asks get what is known.
  uint64_t rereads_asked = 0;
  uint64_t rereads_done = 0;
  std::vector<caf::typed_response_promise<std::string, std::string>> waiters;
};

using refresher_ptr = refresher_actor::stateful_pointer<refresher_state>;

/// `refresh_atom` generations that are no timer's: the connection changed
/// (read it again), and a look again at such an ask that came while the
/// refresher was busy. Timers count up from 1.
constexpr uint64_t reread_asked = 0;
constexpr uint64_t reread_again = ~uint64_t{0};

std::chrono::milliseconds margin(refresher_ptr self) {
  return std::chrono::seconds{self->state.settings->cfg.refresh_margin_seconds};
}

/// True when the token in hand serves without a refresh first: outside the
/// margin, or inside it before its first refresh is due (a token that
/// lives shorter than the margin; see first_refresh_at).
bool usable(refresher_ptr self) {
  const auto& st = self->state;
  auto now = sys_clock::now();
  return !st.access_token.empty() && st.expires_at > now
         && (st.expires_at - margin(self) > now || now < st.not_before);
}

/// A changed connection has not been read since.
bool reread_pending(refresher_ptr self) {
  return self->state.rereads_done < self->state.rereads_asked;
}

/// Answers everyone waiting for a token with what is known now; unless a
/// read of the changed connection is still to come and `force` is off:
/// then that read answers them.
void load(refresher_ptr self, std::chrono::milliseconds floor);

void answer_waiters(refresher_ptr self, bool force = false) {
  auto& st = self->state;
  if (!force && !st.ending && reread_pending(self)) {
    if (!st.busy) {
      ++st.timer; // the read reschedules
      load(self, std::chrono::milliseconds{0});
    }
    return;
  }
  auto waiters = std::move(st.waiters);
  st.waiters.clear();
  for (auto& w : waiters) {
    if (!st.loaded)
      w.deliver(make_error(errc::db_unavailable, "the Dialpad connection cannot be read now"));
    else if (!st.connected)
      w.deliver(make_error(errc::conflict, "the app has no connected Dialpad account"));
    else if (st.access_token.empty() || st.expires_at <= sys_clock::now())
      w.deliver(make_error(errc::upstream_failed,
                           st.has_refresh
                             ? "the Dialpad access token expired and could not be refreshed"
                             : "the Dialpad access token expired and the connection has no"
                               " refresh token (granted without offline_access): connect the"
                               " account again"));
    else
      w.deliver(st.access_token, st.environment);
  }
}

/// The refresher has nothing more to do: it answers everyone waiting and
/// asks the manager to forget it. It ends on the manager's stop, so an ask
/// the manager sends meanwhile still reaches it and is answered (an actor
/// that ended by itself left such asks unanswered: a 502 to a screen pop).
void finish(refresher_ptr self) {
  auto& st = self->state;
  st.ending = true;
  answer_waiters(self);
  self->send(st.manager, stop_atom_v, refresher_actor{self});
}

/// Wakes the refresher at `when` (or after `floor`, whichever is later).
void schedule_at(refresher_ptr self, sys_clock::time_point when,
                 std::chrono::milliseconds floor = std::chrono::milliseconds{0}) {
  // Rounded up: never before `when` (the claim compares with the database's
  // clock; a wake a fraction early would miss a due time by a whole retry).
  auto delay = std::chrono::ceil<std::chrono::milliseconds>(when - sys_clock::now());
  delay = std::max(delay, floor);
  self->delayed_send(self, delay, refresh_atom_v, ++self->state.timer);
}

void try_refresh(refresher_ptr self);

/// Reads the connection and plans the next refresh. A connection that is
/// gone or needs re-authorization ends the refresher.
void load(refresher_ptr self, std::chrono::milliseconds floor = std::chrono::milliseconds{0});

void load(refresher_ptr self, std::chrono::milliseconds floor) {
  auto& st = self->state;
  st.busy = true;
  auto covers = st.rereads_asked; // asks made later need a later read
  self->request(st.settings->pool, std::chrono::seconds{15}, query_atom_v,
                query_of(query_kind::dialpad_tokens, st.app))
    .then(
      [self, floor, covers](db_answer& ans) {
        auto& s = self->state;
        s.busy = false;
        s.loaded = true;
        s.rereads_done = std::max(s.rereads_done, covers);
        auto j = json::parse(ans.body, nullptr, false);
        s.connected = j.is_object() && j.value("status", "") == "connected";
        if (!s.connected) {
          finish(self);
          return;
        }
        s.environment = j.value("environment", "production");
        s.has_refresh = j.value("has_refresh", true);
        s.access_token.clear();
        if (j["access_sealed"].is_string()) {
          auto sealed = from_hex(j["access_sealed"].get<std::string>());
          auto plain = sealed ? open_sealed(s.settings->cfg.database_encryption_key, *sealed, s.app)
                              : std::nullopt;
          if (plain)
            s.access_token = std::move(*plain);
          else
            log::error("a sealed Dialpad token cannot be opened (wrong DATABASE_ENCRYPTION_KEY?)",
                       {{"app_id", s.app}});
        }
        s.expires_at = j["expires_at_us"].is_number_integer()
                         ? sys_clock::time_point{std::chrono::microseconds{
                             j["expires_at_us"].get<int64_t>()}}
                         : sys_clock::now();
        s.not_before = j["next_refresh_at_us"].is_number_integer()
                         ? sys_clock::time_point{std::chrono::microseconds{
                             j["next_refresh_at_us"].get<int64_t>()}}
                         : sys_clock::time_point{};
        auto due = s.expires_at - margin(self);
        for (const char* later : {"next_refresh_at_us", "lease_until_us"})
          if (j[later].is_number_integer())
            due = std::max(due, sys_clock::time_point{std::chrono::microseconds{
                                  j[later].get<int64_t>()}});
        if (!s.has_refresh) {
          // Nothing to refresh with (no offline_access): the token serves
          // until it expires; then the account must be connected again.
          finish(self);
          return;
        }
        // Waiters for a fresher token than this one get it from the refresh.
        bool fresh = usable(self);
        if (!s.waiters.empty() && !fresh && due <= sys_clock::now() && floor.count() == 0) {
          try_refresh(self);
          return;
        }
        answer_waiters(self);
        schedule_at(self, due, floor);
      },
      [self](caf::error& err) {
        auto& s = self->state;
        s.busy = false;
        if (errc_of(err) == errc::not_found) {
          // No connection (any more): nothing to refresh.
          s.loaded = true;
          s.connected = false;
          finish(self);
          return;
        }
        answer_waiters(self, true); // with what was known
        log::warn("cannot read a Dialpad connection", {{"app_id", s.app},
                                                       {"error", to_string(errc_of(err))}});
        schedule_at(self, sys_clock::now(), std::chrono::seconds{5});
      });
}

/// A refresh went wrong: record it (backoff, or needs_reauth when Dialpad
/// refused the grant) and go on with the old token while it lasts.
void refresh_failed(refresher_ptr self, int failures, const token_answer& answer) {
  auto& st = self->state;
  st.settings->stats->refresh_failures.fetch_add(1, std::memory_order_relaxed);
  auto retry = refresh_retry_delay(failures + 1, st.settings->refresh_retry_base, jitter());
  json args = {{"node", st.settings->node_name},
               {"permanent", answer.permanent},
               {"retry_ms", retry.count()},
               {"error", answer.error}};
  if (answer.permanent)
    log::warn("Dialpad refused the refresh token: the connection needs re-authorization",
              {{"app_id", st.app}, {"error", answer.error}});
  else
    log::warn("Dialpad token refresh failed; retrying later",
              {{"app_id", st.app}, {"error", answer.error},
               {"failures", std::to_string(failures + 1)},
               {"retry_in_ms", std::to_string(retry.count())}});
  self->request(st.settings->pool, std::chrono::seconds{15}, query_atom_v,
                query_of(query_kind::dialpad_refresh_failed, st.app, args))
    .then(
      [self, permanent = answer.permanent](db_answer& recorded) {
        auto& s = self->state;
        s.busy = false;
        // Not recorded: the lease was taken from us meanwhile (the account
        // was connected anew, with new tokens): read the connection again
        // rather than give up on it.
        if (permanent && recorded.body.find("true") != std::string::npos) {
          s.connected = false;
          finish(self);
          return;
        }
        load(self);
      },
      [self](caf::error&) {
        self->state.busy = false;
        answer_waiters(self);
        schedule_at(self, sys_clock::now(), std::chrono::seconds{5});
      });
}

/// Stores a new token pair (only the lease holder can). Dialpad has already
/// rotated the refresh token, so a pair that could not be stored is tried
/// again, from memory, while the lease lasts (a lost pair would leave the
/// connection with a spent refresh token).
void store_pair(refresher_ptr self, json store, std::string token, sys_clock::time_point expires,
                int attempt) {
  auto& s = self->state;
  auto not_before = sys_clock::time_point{std::chrono::microseconds{
    store.value("next_refresh_at_us", int64_t{0})}};
  self->request(s.settings->pool, std::chrono::seconds{15}, query_atom_v,
                query_of(query_kind::dialpad_refresh_store, s.app, store))
    .then(
      [self, token, expires, not_before](db_answer& stored) {
        auto& st = self->state;
        st.busy = false;
        if (stored.body.find("true") == std::string::npos) {
          // The lease was lost or the connection deleted meanwhile.
          load(self);
          return;
        }
        log::info("Dialpad tokens refreshed", {{"app_id", st.app}});
        st.settings->stats->refreshes.fetch_add(1, std::memory_order_relaxed);
        st.access_token = token;
        st.expires_at = expires;
        st.not_before = not_before;
        answer_waiters(self);
        schedule_at(self, std::max(expires - margin(self), st.not_before));
      },
      [self, store, token, expires, not_before, attempt](caf::error&) {
        auto& st = self->state;
        // The new access token serves meanwhile, from memory (also to asks
        // waiting for a read of a changed connection: Dialpad just issued
        // it, and the read waits for these retries).
        st.access_token = token;
        st.expires_at = expires;
        st.not_before = not_before;
        answer_waiters(self, true);
        auto wait = std::chrono::seconds{2 << std::min(attempt, 4)};
        if (std::chrono::milliseconds{wait} * (attempt + 1) < refresh_lease(st.settings->cfg)) {
          log::warn("cannot store refreshed Dialpad tokens yet; retrying",
                    {{"app_id", st.app}, {"attempt", std::to_string(attempt + 1)}});
          self->delayed_send(self, wait, store_atom_v, store.dump(), token,
                             std::chrono::duration_cast<std::chrono::microseconds>(
                               expires.time_since_epoch()).count(),
                             attempt + 1);
          return;
        }
        log::error("refreshed Dialpad tokens could not be stored; the connection may need"
                   " to be connected again", {{"app_id", st.app}});
        st.busy = false;
        schedule_at(self, sys_clock::now(), std::chrono::seconds{5});
      });
}

/// Claims the refresh lease and, when this node got it, exchanges the
/// refresh token for a new pair and stores it.
void try_refresh(refresher_ptr self) {
  auto& st = self->state;
  st.busy = true;
  json args = {{"node", st.settings->node_name},
               {"lease_ms", refresh_lease(st.settings->cfg).count()},
               {"margin_ms", margin(self).count()}};
  self->request(st.settings->pool, std::chrono::seconds{15}, query_atom_v,
                query_of(query_kind::dialpad_refresh_claim, st.app, args))
    .then(
      [self](db_answer& ans) {
        auto& s = self->state;
        auto j = json::parse(ans.body, nullptr, false);
        if (!j.is_object() || !j.value("claimed", false)) {
          // Not due any more (another node refreshed), another node holds
          // the lease, or a backoff runs: read the row again.
          load(self, std::chrono::seconds{1});
          return;
        }
        int failures = j.value("failures", 0);
        s.environment = j.value("environment", s.environment);
        auto sealed = from_hex(j.value("refresh_sealed", ""));
        auto refresh = sealed ? open_sealed(s.settings->cfg.database_encryption_key, *sealed, s.app)
                              : std::nullopt;
        if (!refresh) {
          log::error("a sealed Dialpad token cannot be opened (wrong DATABASE_ENCRYPTION_KEY?)",
                     {{"app_id", s.app}});
          token_answer bad;
          bad.error = "unreadable_refresh_token";
          refresh_failed(self, failures, bad);
          return;
        }
        const auto& env = dialpad_env(s.settings->cfg, s.environment);
        outbound_request req;
        req.method = "POST";
        req.url = env.base_url + "/oauth2/token";
        req.headers.push_back({"Content-Type", "application/x-www-form-urlencoded"});
        req.body = form_encode({{"grant_type", "refresh_token"},
                                {"refresh_token", *refresh},
                                {"client_id", env.client_id},
                                {"client_secret", env.client_secret}});
        call_dialpad(self, s.settings->http, s.settings->cfg, std::move(req),
                     [self, failures](outbound_response& res) {
              auto& s = self->state;
              token_answer answer;
              if (!res.error.empty())
                answer.error = res.error;
              else
                answer = parse_token_answer(res.status, res.body);
              if (!answer.ok) {
                refresh_failed(self, failures, answer);
                return;
              }
              const auto& key = s.settings->cfg.database_encryption_key;
              auto expires = sys_clock::now() + std::chrono::seconds{answer.expires_in > 0
                                                                       ? answer.expires_in
                                                                       : 3600};
              auto next = first_refresh_at(sys_clock::now(), expires,
                                           std::chrono::seconds{s.settings->cfg.refresh_margin_seconds});
              json store = {
                {"node", s.settings->node_name},
                {"access_sealed", to_hex(seal(key, answer.access_token, s.app))},
                {"expires_at_us", std::chrono::duration_cast<std::chrono::microseconds>(
                                    expires.time_since_epoch()).count()},
                {"next_refresh_at_us", std::chrono::duration_cast<std::chrono::microseconds>(
                                         next.time_since_epoch()).count()},
                {"scopes", answer.scopes}};
              if (!answer.refresh_token.empty())
                store["refresh_sealed"] = to_hex(seal(key, answer.refresh_token, s.app));
              store_pair(self, std::move(store), answer.access_token, expires, 0);
            });
      },
      [self](caf::error&) {
        self->state.busy = false;
        answer_waiters(self);
        schedule_at(self, sys_clock::now(), std::chrono::seconds{5});
      });
}

refresher_actor::behavior_type refresher(refresher_ptr self,
                                         std::shared_ptr<const dialpad_settings> settings,
                                         dialpad_actor manager, std::string app) {
  self->state.settings = std::move(settings);
  self->state.manager = std::move(manager);
  self->state.app = std::move(app);
  load(self);
  return {
    [self](token_atom) -> caf::result<std::string, std::string> {
      auto& st = self->state;
      if (st.ending) {
        // Answered with what is known (answer_waiters' rules), never left
        // waiting for a load or a refresh that will not come.
        auto rp = self->make_response_promise<std::string, std::string>();
        st.waiters.push_back(rp);
        answer_waiters(self);
        return rp;
      }
      bool reread = reread_pending(self);
      if (st.loaded && !st.connected && !reread)
        return make_error(errc::conflict, "the app has no connected Dialpad account");
      if (st.loaded && usable(self) && !reread)
        return caf::result<std::string, std::string>{st.access_token, st.environment};
      auto rp = self->make_response_promise<std::string, std::string>();
      st.waiters.push_back(rp);
      if (!st.busy) {
        if (st.loaded && !reread)
          try_refresh(self);
        else
          load(self);
      }
      return rp;
    },
    [self](stop_atom) { self->quit(); },
    [self](store_atom, const std::string& store, const std::string& token, int64_t expires_us,
           int attempt) {
      if (self->state.ending)
        return;
      store_pair(self, json::parse(store), token,
                 sys_clock::time_point{std::chrono::microseconds{expires_us}}, attempt);
    },
    [self](refresh_atom, uint64_t generation) {
      auto& st = self->state;
      if (st.ending)
        return; // the manager's stop is on its way
      if (generation == reread_asked || generation == reread_again) {
        // Asked to read the connection again (it changed). While a load or
        // a refresh runs, looked at again shortly: what it reads may be
        // older than the change. Until then asks for a token wait.
        if (generation == reread_asked)
          ++st.rereads_asked;
        if (!reread_pending(self))
          return; // a read that started after the ask covered it
        if (!st.busy) {
          ++st.timer; // forget the pending timer
          load(self);
        } else {
          self->delayed_send(self, std::chrono::milliseconds{200}, refresh_atom_v, reread_again);
        }
        return;
      }
      if (generation != st.timer || st.busy)
        return; // an older timer, or a round that reschedules itself
      if (reread_pending(self))
        load(self); // a read of the changed connection failed: again first
      else
        try_refresh(self);
    },
  };
}

// -- call-history sync ----------------------------------------------------------------

/// One sync job: pages through Dialpad's call list and hands every call to
/// the ingester as an event, so the pollers apply it through the same
/// handlers as a webhook (and a second run stores nothing twice).
using sync_job_actor = caf::typed_actor<caf::reacts_to<sync_atom>>;

struct sync_state {
  static inline const char* name = "dialpad_sync";
  std::shared_ptr<const dialpad_settings> settings;
  dialpad_actor tokens; ///< The manager, which asks the app's refresher.
  std::string app;
  std::string job;
  int64_t since_ms = 0;
  std::string cursor;       ///< Of the next page; empty: the first.
  int pages = 0;
  int failures = 0;         ///< In a row, for the current page.
  int waits = 0;            ///< 429 answers honoured.
};

using sync_ptr = sync_job_actor::stateful_pointer<sync_state>;

/// Longest Dialpad's Retry-After is honoured, and how many of them.
constexpr std::chrono::seconds max_retry_after{60};
constexpr int max_waits = 100;
constexpr int max_pages = 100000;
constexpr int max_page_failures = 3;

void sync_finish(sync_ptr self, const std::string& state, const std::string& error) {
  auto& st = self->state;
  json args = {{"job_id", st.job}, {"state", state}};
  if (!error.empty())
    args["error"] = error;
  if (state == "done")
    log::info("Dialpad call sync finished", {{"app_id", st.app}, {"pages", std::to_string(st.pages)}});
  else
    log::warn("Dialpad call sync failed", {{"app_id", st.app}, {"error", error}});
  self->request(st.settings->pool, std::chrono::seconds{15}, query_atom_v,
                query_of(query_kind::dialpad_sync_finish, st.app, args))
    .then([self](db_answer&) { self->quit(); }, [self](caf::error&) { self->quit(); });
}

/// A page could not be fetched or stored: again shortly, or give up.
void sync_retry(sync_ptr self, const std::string& error) {
  auto& st = self->state;
  if (++st.failures >= max_page_failures) {
    sync_finish(self, "failed", error);
    return;
  }
  self->delayed_send(self, std::chrono::seconds{2} * st.failures, sync_atom_v);
}

/// What the sync makes of a listed call. API.md: it imports the *finished*
/// calls. A call in a live state (or without a state) that has a
/// `date_ended` did end: it is imported as its hangup (`call.ended`, which
/// then reads ended or missed from date_connected and the direction). A
/// call in a live state without `date_ended` is still going on: skipped
/// (its webhooks bring it). Anything else is imported as its state says.
enum class sync_kind { skip, as_hangup, as_listed };

sync_kind classify_listed_call(const json& item) {
  static constexpr std::array<std::string_view, 7> live{
    "calling", "ringing", "preanswer", "queued", "connected", "hold", "parked"};
  auto ended_it = item.find("date_ended");
  bool ended = ended_it != item.end() && !ended_it->is_null();
  auto st = item.find("state");
  bool has_state = st != item.end() && st->is_string();
  bool is_live = has_state
                 && std::find(live.begin(), live.end(), st->get_ref<const std::string&>())
                      != live.end();
  if (is_live || !has_state)
    return ended ? sync_kind::as_hangup : (is_live ? sync_kind::skip : sync_kind::as_listed);
  return sync_kind::as_listed;
}

/// Stores a page's calls; then the next page, or the end.
void sync_store(sync_ptr self, const json& items, std::string next_cursor) {
  auto& st = self->state;
  auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                  sys_clock::now().time_since_epoch()).count();
  std::vector<ingest_item> batch;
  for (const auto& item : items) {
    if (!item.is_object() || !item.contains("call_id"))
      continue;
    auto id = json_dialpad_id(item["call_id"]);
    auto kind = classify_listed_call(item);
    if (!id || kind == sync_kind::skip)
      continue;
    auto call_id = std::to_string(*id);
    ingest_item it;
    it.app_id = st.app;
    auto state = item.contains("state") && item["state"].is_string()
                   ? item["state"].get<std::string>() : std::string{};
    it.dialpad_event_id = "sync:" + call_id + ":" + utf8_text_prefix(state, 64);
    it.event_type = kind == sync_kind::as_hangup ? std::string{"call.ended"} : derive_event_type(item);
    it.payload = item.dump(-1, ' ', false, json::error_handler_t::replace);
    it.format = "dialpad_sync";
    it.received_at_us = now_us;
    it.serial = event_serial(it.app_id, it.event_type, extract_event(item));
    batch.push_back(std::move(it));
  }
  struct tally {
    std::size_t left = 0;
    int64_t stored = 0;
    bool failed = false;
  };
  auto t = std::make_shared<tally>();
  t->left = batch.size();
  auto page_done = [self, t, next_cursor] {
    auto& s = self->state;
    if (t->failed) {
      sync_retry(self, "the database did not store the fetched calls");
      return;
    }
    self->request(s.settings->pool, std::chrono::seconds{15}, query_atom_v,
                  query_of(query_kind::dialpad_sync_progress, s.app,
                           {{"job_id", s.job}, {"imported", t->stored}}))
      .then(
        [self, next_cursor](db_answer& ans) {
          auto& s2 = self->state;
          if (ans.body.find("true") == std::string::npos) {
            self->quit(); // disconnected, or superseded by a newer job
            return;
          }
          s2.failures = 0;
          ++s2.pages;
          if (next_cursor.empty() || next_cursor == s2.cursor || s2.pages >= max_pages) {
            sync_finish(self, "done", {});
            return;
          }
          s2.cursor = next_cursor;
          self->send(self, sync_atom_v);
        },
        [self](caf::error&) { sync_retry(self, "the database did not record the progress"); });
  };
  if (batch.empty()) {
    page_done();
    return;
  }
  for (auto& it : batch)
    self->request(st.settings->ingester, caf::infinite, ingest_atom_v, std::move(it))
      .then(
        [t, page_done](ingest_result& res) {
          if (!res.duplicate)
            ++t->stored;
          if (--t->left == 0)
            page_done();
        },
        [t, page_done](caf::error&) {
          t->failed = true;
          if (--t->left == 0)
            page_done();
        });
}

/// Fetches the current page with a fresh token.
void sync_fetch(sync_ptr self) {
  auto& st = self->state;
  // Longer than the manager's own asks (30 s, and once more after a
  // refresher that ended), so their error, not this timeout, is what fails.
  self->request(st.tokens, std::chrono::seconds{65}, token_atom_v, st.app)
    .then(
      [self](std::string& token, std::string& environment) {
        auto& s = self->state;
        const auto& env = dialpad_env(s.settings->cfg, environment);
        outbound_request req;
        req.url = env.base_url + "/api/v2/call?started_after=" + std::to_string(s.since_ms);
        if (!s.cursor.empty())
          req.url += "&cursor=" + percent_encode(s.cursor);
        req.headers.push_back({"Authorization", "Bearer " + token});
        call_dialpad(self, s.settings->http, s.settings->cfg, std::move(req),
                     [self](outbound_response& res) {
              auto& s2 = self->state;
              if (!res.error.empty()) {
                sync_retry(self, "Dialpad did not answer (" + res.error + ")");
                return;
              }
              if (res.status == 429) {
                if (++s2.waits > max_waits) {
                  sync_finish(self, "failed", "Dialpad kept answering 429");
                  return;
                }
                const auto* after = res.header("retry-after");
                long secs = after ? std::atol(after->c_str()) : 0;
                auto wait = std::clamp(std::chrono::seconds{secs}, std::chrono::seconds{1},
                                       max_retry_after);
                self->delayed_send(self, wait, sync_atom_v);
                return;
              }
              if (res.status == 401 || res.status == 403) {
                sync_finish(self, "failed", "Dialpad refused the app's token");
                return;
              }
              auto j = json::parse(res.body, nullptr, false);
              if (res.status != 200) {
                sync_retry(self, "Dialpad answered HTTP " + std::to_string(res.status));
                return;
              }
              if (!j.is_object()) {
                sync_retry(self, "Dialpad's call list answer is not a JSON object");
                return;
              }
              // No `items`: an empty page. `items` that is not a list: an
              // answer this server does not understand, never read as empty.
              if (j.contains("items") && !j["items"].is_array() && !j["items"].is_null()) {
                sync_finish(self, "failed", "Dialpad's call list answer has items that are not a list");
                return;
              }
              auto items = j.contains("items") && j["items"].is_array() ? j["items"] : json::array();
              std::string next = j.contains("cursor") && j["cursor"].is_string()
                                   ? j["cursor"].get<std::string>() : std::string{};
              sync_store(self, items, std::move(next));
            });
      },
      [self](caf::error& err) {
        sync_finish(self, "failed", "no Dialpad access token: " + message_of(err));
      });
}

sync_job_actor::behavior_type sync_job(sync_ptr self, std::shared_ptr<const dialpad_settings> settings,
                                       dialpad_actor tokens, std::string app, std::string job,
                                       int64_t since_us) {
  auto& st = self->state;
  st.settings = std::move(settings);
  st.tokens = std::move(tokens);
  st.app = std::move(app);
  st.job = std::move(job);
  st.since_ms = since_us / 1000;
  self->send(self, sync_atom_v);
  return {
    [self](sync_atom) { sync_fetch(self); },
  };
}

// -- manager ------------------------------------------------------------------------

struct manager_state {
  static inline const char* name = "dialpad";
  std::shared_ptr<const dialpad_settings> settings;
  std::map<std::string, refresher_actor> refreshers;
  /// Recent screen pops per (app, Dialpad user).
  std::map<std::pair<std::string, int64_t>, std::deque<std::chrono::steady_clock::time_point>>
    pops;
};

using manager_ptr = dialpad_actor::stateful_pointer<manager_state>;

refresher_actor ensure_refresher(manager_ptr self, const std::string& app) {
  auto& st = self->state;
  if (auto it = st.refreshers.find(app); it != st.refreshers.end())
    return it->second;
  // Linked: they end with the manager (at shutdown); their own normal
  // ends do not touch it.
  auto r = self->spawn<caf::linked>(refresher, st.settings, caf::actor_cast<dialpad_actor>(self),
                                    app);
  self->monitor(r);
  st.refreshers.emplace(app, r);
  return r;
}

/// Asks the app's refresher for a token. A refresher ends by itself when it
/// finds the account not connected, and the manager forgets it only when
/// its down message arrives: an ask in between reaches an actor that is
/// gone. That refresher is replaced and the new one asked, once.
template <class OnToken, class OnError>
void with_token(manager_ptr self, const std::string& app, OnToken on_token, OnError on_error,
                bool retried = false) {
  auto r = ensure_refresher(self, app);
  self->request(r, std::chrono::seconds{30}, token_atom_v)
    .then(on_token, [self, app, r, on_token, on_error, retried](caf::error& err) mutable {
      if (!retried && err == caf::sec::request_receiver_down) {
        auto& refreshers = self->state.refreshers;
        if (auto it = refreshers.find(app); it != refreshers.end() && it->second == r) {
          self->demonitor(r.address());
          refreshers.erase(it);
        }
        with_token(self, app, std::move(on_token), std::move(on_error), true);
        return;
      }
      on_error(err);
    });
}

void load_connected(manager_ptr self) {
  self->request(self->state.settings->pool, std::chrono::seconds{15}, query_atom_v,
                query_of(query_kind::dialpad_connected_apps, {}))
    .then(
      [self](db_answer& ans) {
        auto j = json::parse(ans.body, nullptr, false);
        if (!j.is_object() || !j["apps"].is_array())
          return;
        for (const auto& app : j["apps"])
          if (app.is_string())
            ensure_refresher(self, app.get<std::string>());
        // Accounts connected through another node of a cluster get a
        // refresher here too, within DIALPAD_RECONCILE_SECONDS (the row lease
        // still lets one node refresh each): no node is the only one that
        // can keep a connection fresh.
        self->delayed_send(self,
                           std::chrono::seconds{self->state.settings->cfg.dialpad_reconcile_seconds},
                           start_atom_v, std::string{});
      },
      [self](caf::error&) {
        // The database is not there yet: try again shortly.
        self->delayed_send(self, std::chrono::seconds{5}, start_atom_v, std::string{});
      });
}

/// Revokes `sealed_hex` (the access token) at Dialpad; best effort, logged.
void deauthorize(manager_ptr self, const std::string& app, const std::string& environment,
                 const std::string& sealed_hex) {
  auto& st = self->state;
  auto sealed = from_hex(sealed_hex);
  auto token = sealed ? open_sealed(st.settings->cfg.database_encryption_key, *sealed, app)
                      : std::nullopt;
  if (!token) {
    log::warn("cannot revoke the Dialpad token: it cannot be opened", {{"app_id", app}});
    return;
  }
  call_dialpad(self, st.settings->http, st.settings->cfg,
               deauthorize_request(dialpad_env(st.settings->cfg, environment), *token),
               [app](outbound_response& res) {
        if (res.error.empty() && res.status >= 200 && res.status < 300)
          log::info("Dialpad tokens revoked", {{"app_id", app}});
        else
          log::warn("Dialpad did not confirm the token revocation",
                    {{"app_id", app},
                     {"error", res.error.empty() ? "http_" + std::to_string(res.status)
                                                 : res.error}});
      });
}

api_response failure(uint64_t serial, const std::string& app, errc code, std::string message) {
  auto resp = api_response::failure(serial, code, std::move(message));
  resp.app_id = app;
  return resp;
}

/// Dialpad's answer to a screen pop, as ours.
api_response screen_pop_answer(uint64_t serial, const std::string& app,
                               const outbound_response& res) {
  if (!res.error.empty())
    return failure(serial, app, errc::upstream_failed, "Dialpad did not answer (" + res.error + ")");
  if (res.status >= 200 && res.status < 300) {
    auto resp = api_response::json(serial, 202, R"({"status":"accepted"})");
    resp.app_id = app;
    return resp;
  }
  if (res.status == 429) {
    auto resp = failure(serial, app, errc::rate_limited, "Dialpad's screen pop limit was reached");
    const auto* after = res.header("retry-after");
    resp.headers.push_back({"Retry-After", after && !after->empty() && after->size() < 16
                                             ? *after : std::string{"60"}});
    return resp;
  }
  return failure(serial, app, errc::upstream_failed,
                 "Dialpad refused the screen pop (HTTP " + std::to_string(res.status) + ")");
}

dialpad_actor::behavior_type manager(manager_ptr self, std::shared_ptr<const dialpad_settings> s) {
  self->state.settings = std::move(s);
  // The only actors linked to the manager are its children: a child's end
  // (even a failure) never ends it. The shutdown's exit (anon_send_exit
  // names the receiver itself as the source) does, and takes the children
  // along through the links.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    if (msg.source != self->address() || msg.reason == caf::exit_reason::normal)
      return;
    self->quit(msg.reason);
  });
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& refreshers = self->state.refreshers;
    for (auto it = refreshers.begin(); it != refreshers.end(); ++it)
      if (caf::actor_cast<caf::actor_addr>(it->second) == msg.source) {
        refreshers.erase(it);
        break;
      }
  });
  load_connected(self);
  return {
    [self](start_atom, const std::string& app) {
      if (app.empty()) {
        load_connected(self);
        return;
      }
      auto& refreshers = self->state.refreshers;
      if (auto it = refreshers.find(app); it != refreshers.end())
        self->send(it->second, refresh_atom_v, reread_asked); // read the new tokens
      else
        ensure_refresher(self, app);
    },
    [self](stop_atom, const std::string& app, const std::string& environment,
           const std::string& sealed_hex) {
      auto& refreshers = self->state.refreshers;
      if (auto it = refreshers.find(app); it != refreshers.end()) {
        self->demonitor(it->second.address());
        self->unlink_from(it->second);
        self->send_exit(it->second, caf::exit_reason::user_shutdown);
        refreshers.erase(it);
      }
      if (!sealed_hex.empty())
        deauthorize(self, app, environment, sealed_hex);
    },
    [self](stop_atom, refresher_actor done) {
      // Forgotten first: the next ask for the app gets a new refresher.
      // Every ask sent to `done` before this stop reaches it first (one
      // sender's messages keep their order) and is answered.
      auto& refreshers = self->state.refreshers;
      for (auto it = refreshers.begin(); it != refreshers.end(); ++it)
        if (it->second == done) {
          self->demonitor(done.address());
          refreshers.erase(it);
          break;
        }
      self->send(done, stop_atom_v);
    },
    [self](invalidate_atom, const std::string& app) {
      auto& refreshers = self->state.refreshers;
      if (auto it = refreshers.find(app); it != refreshers.end())
        self->send(it->second, refresh_atom_v, reread_asked);
    },
    [self](sync_atom, const std::string& app, const std::string& job, int64_t since_us) {
      log::info("Dialpad call sync started", {{"app_id", app}, {"job_id", job}});
      auto job_actor = self->spawn<caf::linked>(sync_job, self->state.settings,
                                                caf::actor_cast<dialpad_actor>(self), app, job,
                                                since_us);
      (void)job_actor;
    },
    [self](token_atom, const std::string& app) -> caf::result<std::string, std::string> {
      auto rp = self->make_response_promise<std::string, std::string>();
      with_token(
        self, app,
        [rp](std::string& token, std::string& environment) mutable {
          rp.deliver(std::move(token), std::move(environment));
        },
        [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [self](screen_pop_atom, uint64_t serial, const std::string& app, int64_t user,
           const std::string& uri) -> caf::result<api_response> {
      auto& st = self->state;
      // Dialpad's limit, kept here too so a burst never reaches it.
      auto now = std::chrono::steady_clock::now();
      auto& recent = st.pops[{app, user}];
      while (!recent.empty() && now - recent.front() >= std::chrono::minutes{1})
        recent.pop_front();
      if (static_cast<int>(recent.size()) >= st.settings->screen_pops_per_minute) {
        auto wait = std::chrono::duration_cast<std::chrono::seconds>(
                      recent.front() + std::chrono::minutes{1} - now).count() + 1;
        auto resp = failure(serial, app, errc::rate_limited,
                            "at most " + std::to_string(st.settings->screen_pops_per_minute)
                              + " screen pops per minute per Dialpad user");
        resp.headers.push_back({"Retry-After", std::to_string(wait)});
        return resp;
      }
      if (st.pops.size() > 100000) {
        // Bound the bookkeeping: users whose last pop is over a minute old
        // have nothing left to count.
        for (auto it = st.pops.begin(); it != st.pops.end();)
          it = it->second.empty() || now - it->second.back() >= std::chrono::minutes{1}
                 ? st.pops.erase(it)
                 : std::next(it);
      }
      // Counted now, so that a burst is counted before any of it is sent.
      st.pops[{app, user}].push_back(now);
      auto rp = self->make_response_promise<api_response>();
      with_token(self, app,
          [self, rp, serial, app, user, uri](std::string& token, std::string& environment) mutable {
            auto& st2 = self->state;
            const auto& env = dialpad_env(st2.settings->cfg, environment);
            outbound_request req;
            req.method = "POST";
            req.url = env.base_url + "/api/v2/users/" + std::to_string(user) + "/screenpop";
            req.headers.push_back({"Authorization", "Bearer " + token});
            req.headers.push_back({"Content-Type", "application/json"});
            req.body = json{{"screen_pop_uri", uri}}.dump();
            call_dialpad(self, st2.settings->http, st2.settings->cfg, std::move(req),
                         [self, rp, serial, app](outbound_response& res) mutable {
                  if (res.error.empty() && res.status == 401) {
                    // The token was refused: revoked (a disconnect on another
                    // node) or replaced. The refresher reads the connection
                    // again (and ends if it is gone: the next pop is a 409).
                    auto& refreshers = self->state.refreshers;
                    if (auto it = refreshers.find(app); it != refreshers.end())
                      self->send(it->second, refresh_atom_v, reread_asked);
                  }
                  rp.deliver(screen_pop_answer(serial, app, res));
                });
          },
          [self, rp, serial, app, user](caf::error& err) mutable {
            // Nothing was sent: the attempt does not count.
            auto& recent = self->state.pops[{app, user}];
            if (!recent.empty())
              recent.pop_back();
            auto e = errc_of(err);
            auto code = e == errc::conflict || e == errc::db_unavailable ? e : errc::upstream_failed;
            rp.deliver(failure(serial, app, code, message_of(err)));
          });
      return rp;
    },
  };
}

} // namespace

const dialpad_env_config& dialpad_env(const config& cfg, const std::string& name) {
  return name == "sandbox" ? cfg.dialpad_sandbox : cfg.dialpad_production;
}

outbound_request deauthorize_request(const dialpad_env_config& env, const std::string& access_token) {
  outbound_request req;
  req.method = "POST";
  req.url = env.base_url + "/oauth2/deauthorize";
  req.headers.push_back({"Authorization", "Bearer " + access_token});
  req.headers.push_back({"Content-Type", "application/x-www-form-urlencoded"});
  req.body = form_encode({{"client_id", env.client_id}});
  return req;
}

dialpad_actor spawn_dialpad(caf::actor_system& sys, dialpad_settings settings) {
  // Leases name this process, not only the node: two processes given the
  // same NODE_NAME by mistake still never share one.
  settings.node_name += "/" + random_hex(4);
  return sys.spawn(manager, std::make_shared<const dialpad_settings>(std::move(settings)));
}

} // namespace cti
