#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "actors/messages.hpp"

namespace cti::net {

/// The outcome of matching a method and path.
struct route_match {
  enum class kind { found, not_found, method_not_allowed };
  kind result = kind::not_found;
  endpoint target = endpoint::root;     ///< When found.
  std::vector<name_value> params;       ///< `{name}` segments, percent-decoded.
  std::string allow;                    ///< For 405: `GET, HEAD, POST`.
  bool head_as_get = false;             ///< Found through HEAD on a GET route.
};

/// Maps `METHOD /path/{param}` patterns to endpoints.
///
/// A literal segment beats a `{param}` at the same position, so
/// `/api/calls/active` wins over `/api/calls/{id}` whatever the order of
/// registration. A path that matches a pattern with another method is 405.
/// HEAD is served by the GET route.
class router {
public:
  /// Registers `pattern` (segments separated by `/`, `{name}` captures one).
  void add(std::string_view method, std::string_view pattern, endpoint target);

  /// Finds the endpoint for `method` on `path` (no query string).
  route_match match(std::string_view method, std::string_view path) const;

private:
  struct route {
    std::string method;
    std::vector<std::string> segments; ///< `{name}` for captures.
    endpoint target;
  };
  std::vector<route> routes_;
};

/// The router with every endpoint of the API.
const router& api_router();

/// True for endpoints whose body limit is WEBHOOK_MAX_BODY_BYTES.
bool is_webhook(endpoint e);

/// Decodes `%XX` escapes; false when an escape is malformed.
bool percent_decode(std::string_view in, std::string& out, bool plus_is_space = false);

/// Splits a query string into decoded name/value pairs (bad escapes kept raw).
std::vector<name_value> parse_query(std::string_view query);

} // namespace cti::net
