#include "fuzz/targets.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "domain/event_model.hpp"
#include "domain/json_limits.hpp"
#include "domain/pagination.hpp"
#include "domain/sanitize.hpp"
#include "domain/webhook_auth.hpp"
#include "domain/webhook_intake.hpp"
#include "net/router.hpp"

// An invariant that must hold for every input: abort (a crash the fuzzer
// reports and the regression test fails on) when it does not.
#define CTI_FUZZ_CHECK(cond)                                                             \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "fuzz invariant broken: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)

namespace cti::fuzz {

namespace {

/// Parses as the intake does; discarded when the intake would refuse it.
nlohmann::json parse_like_intake(std::string_view data) {
  auto parsed = parse_untrusted_json(data);
  if (parsed.fault != json_fault::none)
    return nlohmann::json(nlohmann::json::value_t::discarded);
  return std::move(parsed.value);
}

/// The nesting depth of a parsed value (objects and arrays).
int depth_of(const nlohmann::json& j) {
  int deepest = 0;
  if (j.is_structured())
    for (const auto& v : j)
      deepest = std::max(deepest, depth_of(v));
  return j.is_structured() ? deepest + 1 : 0;
}

} // namespace

void extract(std::string_view data) {
  auto j = parse_like_intake(data);
  if (j.is_discarded())
    return;
  CTI_FUZZ_CHECK(depth_of(j) <= max_untrusted_json_depth);
  (void)contains_nul(j);
  if (!j.is_object())
    return;
  (void)is_seed_payload(j);
  auto type = derive_event_type(j);
  auto id = derive_event_id(j, data);
  CTI_FUZZ_CHECK(!id.empty());
  (void)payload_org_id(j);
  auto ev = extract_event(j);
  auto serial = event_serial("00000000-0000-0000-0000-000000000001", type, ev);
  if (!serial.empty())
    CTI_FUZZ_CHECK(serial.rfind("00000000-0000-0000-0000-000000000001|", 0) == 0);
  if (ev.direction)
    CTI_FUZZ_CHECK(*ev.direction == "inbound" || *ev.direction == "outbound");
}

void sanitize(std::string_view data) {
  auto j = parse_like_intake(data);
  if (j.is_discarded())
    return;
  auto s = sanitize_payload(j);
  // API.md: nesting beyond 5 levels is cut (plus the markers' own level).
  CTI_FUZZ_CHECK(depth_of(s) <= 7);
  // Stored as text: it must serialize whatever bytes the strings hold.
  auto text = s.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  CTI_FUZZ_CHECK(!text.empty());
}

void webhook_auth(std::string_view data) {
  const std::string secret = "fuzz-secret";
  auto jwt = verify_hs256_jwt(data, secret);
  if (!jwt.ok)
    CTI_FUZZ_CHECK(jwt.payload.empty());
  (void)looks_like_jwt(data);
  (void)classify_webhook(false, data);
  (void)classify_webhook(true, data);
  // The bytes as a signature of themselves, split at the first newline.
  auto nl = data.find('\n');
  auto body = data.substr(0, nl == std::string_view::npos ? data.size() : nl);
  auto sig = nl == std::string_view::npos ? std::string_view{} : data.substr(nl + 1);
  (void)verify_hex_signature(body, secret, sig);
  CTI_FUZZ_CHECK(verify_hex_signature(body, secret, hmac_sha256_hex(secret, body)));
  // base64url: every byte string has exactly one accepted spelling.
  auto encoded = base64url_encode(data);
  auto back = base64url_decode(encoded);
  CTI_FUZZ_CHECK(back && *back == data);
  if (auto decoded = base64url_decode(data)) {
    auto unpadded = data.substr(0, data.find_last_not_of('=') + 1);
    if (data.find_first_not_of('=') == std::string_view::npos)
      unpadded = {};
    CTI_FUZZ_CHECK(base64url_encode(*decoded) == unpadded);
  }
}

void router(std::string_view data) {
  // "METHOD target": the method up to the first space, the rest the target.
  auto space = data.find(' ');
  auto method = data.substr(0, space == std::string_view::npos ? 0 : space);
  auto target = space == std::string_view::npos ? data : data.substr(space + 1);
  auto q = target.find('?');
  auto path = target.substr(0, q);
  auto m = net::api_router().match(method, path);
  if (m.result == net::route_match::kind::method_not_allowed)
    CTI_FUZZ_CHECK(!m.allow.empty());
  if (q != std::string_view::npos)
    (void)net::parse_query(target.substr(q + 1));
  std::string decoded;
  if (net::percent_decode(target, decoded))
    CTI_FUZZ_CHECK(decoded.size() <= target.size());
}

void cursor(std::string_view data) {
  auto k = decode_cursor(data, "calls");
  if (k)
    // A cursor only ever decodes in the list it was made for.
    CTI_FUZZ_CHECK(!decode_cursor(encode_cursor(*k, "calls"), "voicemails"));
  std::string text{data};
  page_request page;
  std::string error;
  if (parse_page(&text, nullptr, "calls", page, error))
    CTI_FUZZ_CHECK(page.limit >= 1 && page.limit <= max_page_limit);
  else
    CTI_FUZZ_CHECK(!error.empty());
  if (!parse_page(nullptr, &text, "calls", page, error))
    CTI_FUZZ_CHECK(!error.empty());
}

target_fn target_named(std::string_view name) {
  if (name == "extract") return &extract;
  if (name == "sanitize") return &sanitize;
  if (name == "webhook_auth") return &webhook_auth;
  if (name == "router") return &router;
  if (name == "cursor") return &cursor;
  return nullptr;
}

} // namespace cti::fuzz
