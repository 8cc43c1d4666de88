#pragma once

#include <string>
#include <string_view>

namespace cti {

/// The token of an `Authorization: Bearer <token>` header value (scheme
/// case-insensitive), or empty when the value is not a bearer credential.
std::string_view bearer_token(std::string_view authorization);

/// True when `authorization` (may be null) carries `Bearer <secret>`,
/// compared in constant time. An empty configured secret never matches.
bool internal_bearer_ok(const std::string* authorization, const std::string& secret);

} // namespace cti
