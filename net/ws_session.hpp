#pragma once

// Internal to net/: the WebSocket side of a connection after the upgrade.

#include <chrono>
#include <memory>
#include <string>

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "actors/messages.hpp"
#include "net/http_session.hpp"

namespace cti::net {

/// Takes over `stream` (whose request `req` asked for the upgrade and was
/// authorized for `app_id`), completes the WebSocket handshake and runs
/// the connection until it closes. A non-zero `max_age` closes it (1000,
/// "view expired") that long after the handshake: the operator console's
/// views, which were opened with a ticket, not a key that can be revoked.
void start_ws_session(boost::beast::tcp_stream&& stream,
                      boost::beast::http::request<boost::beast::http::string_body> req,
                      std::shared_ptr<server_shared> shared, std::string app_id,
                      ws_filter filter,
                      std::chrono::milliseconds max_age = std::chrono::milliseconds::zero());

/// The same over TLS (WSS).
void start_ws_session(boost::beast::ssl_stream<boost::beast::tcp_stream>&& stream,
                      boost::beast::http::request<boost::beast::http::string_body> req,
                      std::shared_ptr<server_shared> shared, std::string app_id,
                      ws_filter filter,
                      std::chrono::milliseconds max_age = std::chrono::milliseconds::zero());

} // namespace cti::net
