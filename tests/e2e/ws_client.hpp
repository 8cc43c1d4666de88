#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace cti::test {

/// A blocking WebSocket client for tests (Boost.Beast underneath).
class ws_client {
public:
  /// Connects to 127.0.0.1:`port` and asks to upgrade `target`.
  ws_client(uint16_t port, const std::string& target,
            const std::map<std::string, std::string>& headers = {});
  ~ws_client();
  ws_client(const ws_client&) = delete;
  ws_client& operator=(const ws_client&) = delete;

  /// True when the upgrade succeeded.
  bool open() const;
  /// The HTTP status of the handshake answer (101 when open).
  int status() const;
  /// The body of a refused handshake.
  const std::string& refusal_body() const;
  /// A header of the handshake answer ("" when absent).
  std::string response_header(const std::string& name) const;

  /// The next text frame, or nothing when none came within `timeout` or
  /// the connection closed (see `close_code`).
  std::optional<std::string> read(std::chrono::milliseconds timeout);
  /// Sends a text (or binary) frame; false on failure.
  bool send(const std::string& data, bool binary = false);
  /// Drops the TCP connection without a closing handshake, as a client that
  /// goes away does (a server stopping then need not wait for its answer
  /// to the close).
  void disconnect();
  /// The close code the server sent, once the connection closed.
  std::optional<uint16_t> close_code() const;
  std::string close_reason() const;

private:
  struct impl;
  std::unique_ptr<impl> d_;
};

} // namespace cti::test
