#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace cti {

/// True when a webhook's Content-Type is acceptable: JSON
/// (`application/json`, `…+json`), JWT (`application/jwt`) or any `text/*`;
/// a missing Content-Type (null) is acceptable too (the body decides).
bool is_acceptable_webhook_content_type(const std::string* content_type);

/// How a webhook body is signed, decided from the raw bytes and headers.
enum class webhook_wire {
  seed,         ///< `X-Dialpad-Signature` header: hex HMAC of the raw body.
  dialpad_json, ///< Plain JSON without a signature (allowed per app only).
  dialpad_jwt,  ///< Anything else: a compact HS256 JWS carrying the JSON.
};

/// Decides the wire format from the raw bytes: a body shaped like a compact
/// JWS (`looks_like_jwt`) is a JWT whatever the headers;
/// otherwise with a signature header it is the seed format; without one a
/// body declared JSON by its Content-Type is plain JSON, and with no JSON
/// Content-Type a body whose first non-blank byte is `{` is plain JSON,
/// anything else a JWT.
webhook_wire classify_webhook(bool has_signature_header, std::string_view body,
                              const std::string* content_type = nullptr);

/// The `format` column value for `w`.
std::string_view to_string(webhook_wire w);

/// True when any string (key or value) inside `j` holds a NUL character,
/// which PostgreSQL's jsonb cannot store.
bool contains_nul(const nlohmann::json& j);

/// Longest `dialpad_event_id` and `event_type` we store.
inline constexpr std::size_t max_event_id_length = 512;
inline constexpr std::size_t max_event_type_length = 128;

} // namespace cti
