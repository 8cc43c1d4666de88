#pragma once

// The parts of a WebSocket opening handshake (RFC 6455 §4.2.1) that the
// server checks itself before Beast accepts the upgrade, so that a bad
// handshake gets the JSON error body of every other error (Beast would
// answer in plain text). The method, the path and `Upgrade: websocket` are
// checked by the router and the /ws handler; the key is checked before
// these (a bad key is 401 whatever else is wrong).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cti::net {

struct ws_handshake_problem {
  uint16_t status;      ///< 400, or 426 for an unsupported version
  std::string message;  ///< For the error body (`bad_request`).
};

/// `http_version`: 10 or 11; `connection` the Connection header's value;
/// `key` and `version` the Sec-WebSocket-Key / -Version values (nothing when
/// absent). Refuses exactly what Beast's accept would refuse (Beast 1.81,
/// websocket/impl/accept.hpp), no more; the method and `Upgrade: websocket`
/// are checked before.
std::optional<ws_handshake_problem> check_ws_handshake(unsigned http_version, bool has_host,
                                                       std::string_view connection,
                                                       std::optional<std::string_view> key,
                                                       std::optional<std::string_view> version);

} // namespace cti::net
