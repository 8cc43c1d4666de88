#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "actors/messages.hpp"

namespace cti::net {

/// The HTTP status for `code`.
uint16_t status_of(errc code);

/// The contract's error body: `{"error": code, "message": message}`.
std::string error_body(std::string_view code, std::string_view message);

/// Turns a failure response (`resp.error` set) into the final response:
/// status, JSON body, and `Retry-After` where a retry can help.
void render_error(api_response& resp);

/// The `WWW-Authenticate` challenge of a 401 on `path` (RFC 9110 §11.6.1:
/// a 401 carries one): what the realm that guards the path asks for.
std::string_view auth_challenge(std::string_view path);

/// A complete error response for `code`.
api_response make_error_response(uint64_t serial, errc code, std::string message);

} // namespace cti::net
