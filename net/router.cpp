#include "net/router.hpp"

#include <algorithm>

namespace cti::net {

namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty() || path.front() != '/')
    return out;
  path.remove_prefix(1);
  if (path.empty())
    return out; // "/" has no segments
  std::size_t start = 0;
  for (;;) {
    auto pos = path.find('/', start);
    out.push_back(path.substr(start, pos == std::string_view::npos ? pos : pos - start));
    if (pos == std::string_view::npos)
      break;
    start = pos + 1;
  }
  return out;
}

bool is_capture(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

} // namespace

bool percent_decode(std::string_view in, std::string& out, bool plus_is_space) {
  out.clear();
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size())
        return false;
      int hi = hex_value(in[i + 1]);
      int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0)
        return false;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return true;
}

std::vector<name_value> parse_query(std::string_view query) {
  std::vector<name_value> out;
  while (!query.empty()) {
    auto amp = query.find('&');
    auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty())
      continue;
    auto eq = pair.find('=');
    auto raw_name = pair.substr(0, eq);
    auto raw_value = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    name_value nv;
    // A literal '+' stays a '+' (not a space): clients put phone numbers
    // (`phone=+1555…`) and time offsets (`since=…+01:00`) in query strings
    // unencoded; a space is `%20`.
    if (!percent_decode(raw_name, nv.name, false))
      nv.name = std::string{raw_name};
    if (!percent_decode(raw_value, nv.value, false))
      nv.value = std::string{raw_value};
    out.push_back(std::move(nv));
  }
  return out;
}

void router::add(std::string_view method, std::string_view pattern, endpoint target) {
  route r;
  r.method = std::string{method};
  for (auto s : split_path(pattern))
    r.segments.emplace_back(s);
  r.target = target;
  routes_.push_back(std::move(r));
}

/// HEAD is a GET without the body (RFC 9110 9.3.2), so it must be as safe
/// as a GET. The OAuth GETs are not: connect stores a state, the callback
/// spends one and exchanges a code. A HEAD there (a link checker, a proxy's
/// probe) would spend the state the browser's GET needs: 405 instead.
static bool head_serves(endpoint e) {
  return e != endpoint::oauth_connect && e != endpoint::oauth_callback;
}

route_match router::match(std::string_view method, std::string_view path) const {
  route_match res;
  auto segments = split_path(path);
  if (path.empty() || path.front() != '/')
    return res;
  // Find the most specific pattern that matches the path (ignoring method):
  // compare candidates segment by segment, a literal beating a capture.
  const route* best = nullptr;
  auto more_specific = [](const route& a, const route& b) {
    for (std::size_t i = 0; i < a.segments.size(); ++i) {
      bool ca = is_capture(a.segments[i]);
      bool cb = is_capture(b.segments[i]);
      if (ca != cb)
        return !ca;
    }
    return false;
  };
  for (const auto& r : routes_) {
    if (r.segments.size() != segments.size())
      continue;
    bool ok = true;
    for (std::size_t i = 0; i < segments.size() && ok; ++i)
      ok = is_capture(r.segments[i]) ? !segments[i].empty() : r.segments[i] == segments[i];
    if (ok && (best == nullptr || more_specific(r, *best)))
      best = &r;
  }
  if (best == nullptr)
    return res;
  // Every route sharing the best pattern, by method.
  std::vector<const route*> same;
  for (const auto& r : routes_)
    if (r.segments == best->segments)
      same.push_back(&r);
  const route* hit = nullptr;
  for (auto* r : same)
    if (r->method == method)
      hit = r;
  if (hit == nullptr && method == "HEAD") {
    for (auto* r : same)
      if (r->method == "GET" && head_serves(r->target))
        hit = r;
    res.head_as_get = hit != nullptr;
  }
  if (hit == nullptr) {
    res.result = route_match::kind::method_not_allowed;
    std::vector<std::string> methods;
    for (auto* r : same) {
      methods.push_back(r->method);
      if (r->method == "GET" && head_serves(r->target))
        methods.emplace_back("HEAD");
    }
    std::sort(methods.begin(), methods.end());
    methods.erase(std::unique(methods.begin(), methods.end()), methods.end());
    for (const auto& m : methods) {
      if (!res.allow.empty())
        res.allow += ", ";
      res.allow += m;
    }
    return res;
  }
  res.result = route_match::kind::found;
  res.target = hit->target;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    if (!is_capture(hit->segments[i]))
      continue;
    name_value nv;
    nv.name = hit->segments[i].substr(1, hit->segments[i].size() - 2);
    if (!percent_decode(segments[i], nv.value)) {
      res = route_match{}; // a malformed escape cannot name a resource
      return res;
    }
    res.params.push_back(std::move(nv));
  }
  return res;
}

const router& api_router() {
  static const router r = [] {
    router x;
    x.add("GET", "/", endpoint::root);
    x.add("GET", "/health", endpoint::health);
    x.add("GET", "/metrics", endpoint::metrics);
    x.add("POST", "/webhooks/dialpad", endpoint::webhook);
    x.add("POST", "/webhooks/dialpad/{app_id}", endpoint::webhook_app);
    x.add("GET", "/internal/apps/{app_id}/events", endpoint::app_events);
    x.add("GET", "/internal/events/{event_id}", endpoint::event);
    x.add("POST", "/internal/events/{event_id}/replay", endpoint::event_replay);
    x.add("GET", "/internal/apps", endpoint::apps);
    x.add("POST", "/internal/apps", endpoint::apps);
    x.add("GET", "/internal/apps/{app_id}", endpoint::app);
    x.add("PATCH", "/internal/apps/{app_id}", endpoint::app);
    x.add("GET", "/internal/apps/{app_id}/dialpad", endpoint::app_dialpad);
    x.add("PUT", "/internal/apps/{app_id}/dialpad", endpoint::app_dialpad);
    x.add("DELETE", "/internal/apps/{app_id}/dialpad", endpoint::app_dialpad);
    x.add("POST", "/internal/apps/{app_id}/dialpad/sync", endpoint::app_dialpad_sync);
    x.add("POST", "/internal/apps/{app_id}/erase", endpoint::app_erase);
    x.add("GET", "/internal/apps/{app_id}/retention", endpoint::app_retention);
    x.add("PUT", "/internal/apps/{app_id}/retention", endpoint::app_retention);
    x.add("GET", "/internal/audit", endpoint::audit);
    x.add("POST", "/internal/retention/run", endpoint::retention_run);
    x.add("POST", "/internal/apps/{app_id}/api-key", endpoint::api_key);
    x.add("POST", "/internal/apps/{app_id}/api-key/revoke", endpoint::api_key_revoke);
    x.add("GET", "/internal/apps/{app_id}/api-key/status", endpoint::api_key_status);
    x.add("GET", "/internal/apps/{app_id}/api-key/audit", endpoint::api_key_audit);
    x.add("POST", "/internal/apps/{app_id}/users/map", endpoint::user_map);
    x.add("POST", "/internal/apps/{app_id}/users/batch-map", endpoint::user_batch_map);
    x.add("GET", "/internal/apps/{app_id}/users/mappings", endpoint::user_mappings);
    x.add("GET", "/internal/apps/{app_id}/users/mappings/dialpad/{dialpad_user_id}",
          endpoint::user_mapping_dialpad);
    x.add("GET", "/internal/apps/{app_id}/users/mappings/crm/{crm_user_id}",
          endpoint::user_mapping_crm);
    x.add("DELETE", "/internal/apps/{app_id}/users/mappings/{id}", endpoint::user_mapping);
    x.add("GET", "/internal/apps/{app_id}/voicemails", endpoint::internal_voicemails);
    x.add("GET", "/internal/apps/{app_id}/voicemails/{id}", endpoint::internal_voicemail);
    x.add("DELETE", "/internal/apps/{app_id}/voicemails/{id}", endpoint::internal_voicemail);
    x.add("GET", "/api/calls", endpoint::calls);
    x.add("GET", "/api/calls/active", endpoint::calls_active);
    x.add("GET", "/api/calls/export", endpoint::calls_export);
    x.add("GET", "/api/calls/{id}", endpoint::call);
    x.add("PATCH", "/api/calls/{id}", endpoint::call);
    x.add("GET", "/api/voicemails", endpoint::voicemails);
    x.add("GET", "/api/voicemails/{id}", endpoint::voicemail);
    x.add("PATCH", "/api/voicemails/{id}", endpoint::voicemail);
    x.add("GET", "/api/messages", endpoint::messages);
    x.add("POST", "/api/screen-pop", endpoint::screen_pop);
    x.add("GET", "/ws", endpoint::ws);
    x.add("GET", "/internal/monitoring/websocket/stats", endpoint::ws_stats);
    x.add("GET", "/internal/cluster", endpoint::cluster);
    x.add("GET", "/auth/dialpad/connect", endpoint::oauth_connect);
    x.add("GET", "/authorize", endpoint::oauth_connect);
    x.add("GET", "/auth/dialpad/callback", endpoint::oauth_callback);
    x.add("GET", "/console", endpoint::console);
    x.add("GET", "/console/{asset}", endpoint::console);
    x.add("GET", "/internal/console/apps", endpoint::console_apps);
    x.add("POST", "/internal/console/stream-ticket", endpoint::console_ticket);
    x.add("GET", "/internal/console/stream", endpoint::console_stream);
    return x;
  }();
  return r;
}

bool is_webhook(endpoint e) {
  return e == endpoint::webhook || e == endpoint::webhook_app;
}

} // namespace cti::net
