#pragma once

// Outbound HTTP/1.1 over TCP or TLS (Boost.Beast + OpenSSL) for talking to
// Dialpad. TLS verifies the peer against the system CA store, with SNI and
// host name checks, TLS 1.2 or newer. Plain http:// goes only to loopback
// hosts (the fake Dialpad of the tests) unless `allow_plain_remote`.
//
// Each worker is a detached actor with its own io_context: an exchange
// blocks that worker's thread only, never a scheduler or asio thread of the
// server. The handle returned spreads calls over the workers.

#include <cstddef>

#include <caf/fwd.hpp>

#include "actors/messages.hpp"

namespace cti::net {

struct http_client_settings {
  std::size_t workers = 4;               ///< Exchanges that may run at once.
  bool allow_plain_remote = false;       ///< Development mode: http:// to any host.
  std::size_t max_response_bytes = 8 * 1024 * 1024;
  std::string user_agent = "cti-server";
};

/// Spawns the workers and the front actor that spreads calls over them.
http_client_actor spawn_http_client(caf::actor_system& sys, http_client_settings settings);

/// Performs one exchange on the calling thread (blocking it up to the
/// request's timeout). For the workers and for tests.
outbound_response perform_http(const outbound_request& req, const http_client_settings& settings);

} // namespace cti::net
