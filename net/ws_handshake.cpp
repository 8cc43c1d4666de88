#include "net/ws_handshake.hpp"

#include <algorithm>
#include <cctype>

namespace cti::net {

namespace {

/// Whether the comma list `list` holds `token` (case-insensitive).
bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    auto comma = list.find(',');
    auto item = list.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t'))
      item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t'))
      item.remove_suffix(1);
    if (item.size() == token.size()) {
      bool same = true;
      for (std::size_t i = 0; i < item.size() && same; ++i)
        same = std::tolower(static_cast<unsigned char>(item[i]))
               == std::tolower(static_cast<unsigned char>(token[i]));
      if (same)
        return true;
    }
    if (comma == std::string_view::npos)
      break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

} // namespace

std::optional<ws_handshake_problem> check_ws_handshake(unsigned http_version, bool has_host,
                                                       std::string_view connection,
                                                       std::optional<std::string_view> key,
                                                       std::optional<std::string_view> version) {
  if (http_version != 11)
    return ws_handshake_problem{400, "a WebSocket upgrade needs HTTP/1.1"};
  if (!has_host)
    return ws_handshake_problem{400, "a WebSocket upgrade needs a Host header"};
  if (!has_token(connection, "upgrade"))
    return ws_handshake_problem{400, "a WebSocket upgrade needs Connection: Upgrade"};
  if (!key)
    return ws_handshake_problem{400, "Sec-WebSocket-Key is missing"};
  // RFC 6455 §4.2.1: the base64 of a 16-byte nonce, 22 characters and "==".
  auto base64_char = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+'
           || c == '/';
  };
  if (key->size() != 24 || !key->ends_with("==")
      || !std::all_of(key->begin(), key->begin() + 22, base64_char))
    return ws_handshake_problem{400, "Sec-WebSocket-Key must be the base64 of 16 bytes"};
  if (!version)
    return ws_handshake_problem{400, "Sec-WebSocket-Version is missing"};
  if (*version != "13")
    return ws_handshake_problem{426, "Sec-WebSocket-Version must be 13"};
  return std::nullopt;
}

} // namespace cti::net
