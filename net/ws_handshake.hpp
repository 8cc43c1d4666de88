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

/// `http_version`: 10 or 11; the others are the request's header values
/// (empty when absent).
std::optional<ws_handshake_problem> check_ws_handshake(unsigned http_version,
                                                       std::string_view connection,
                                                       std::string_view key,
                                                       std::string_view version);

} // namespace cti::net
