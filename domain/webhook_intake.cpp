#include "domain/webhook_intake.hpp"

#include <cctype>

#include <nlohmann/json.hpp>

#include "domain/webhook_auth.hpp"

namespace cti {

namespace {

/// The media type of a Content-Type, lowercased, without parameters.
std::string media_type(const std::string& content_type) {
  std::string media;
  for (char c : content_type) {
    if (c == ';')
      break;
    if (!std::isspace(static_cast<unsigned char>(c)))
      media += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return media;
}

bool is_json_media(const std::string& media) {
  return media == "application/json" || media.ends_with("+json");
}

} // namespace

bool is_acceptable_webhook_content_type(const std::string* content_type) {
  if (content_type == nullptr)
    return true;
  auto media = media_type(*content_type);
  if (media.empty())
    return true;
  // application/jose: the registered type of a compact JWS (RFC 7515 §9.2.1).
  return media == "application/json" || media.ends_with("+json") || media == "application/jwt"
         || media == "application/jose" || media.starts_with("text/");
}

webhook_wire classify_webhook(bool has_signature_header, std::string_view body,
                              const std::string* content_type) {
  // From the raw bytes: a token is Dialpad's format even when a signature
  // header came along with it (a proxy's, a test's).
  if (has_signature_header)
    return looks_like_jwt(body) ? webhook_wire::dialpad_jwt : webhook_wire::seed;
  if (looks_like_jwt(body))
    return webhook_wire::dialpad_jwt;
  // A body declared JSON is JSON (malformed JSON is then a 400, not a
  // token with a bad signature); without a Content-Type the first byte tells.
  if (content_type != nullptr && is_json_media(media_type(*content_type)))
    return webhook_wire::dialpad_json;
  for (char c : body) {
    if (std::isspace(static_cast<unsigned char>(c)))
      continue;
    return c == '{' ? webhook_wire::dialpad_json : webhook_wire::dialpad_jwt;
  }
  return webhook_wire::dialpad_jwt;
}

std::string_view to_string(webhook_wire w) {
  switch (w) {
    case webhook_wire::seed: return "seed";
    case webhook_wire::dialpad_json: return "dialpad_json";
    case webhook_wire::dialpad_jwt: return "dialpad_jwt";
  }
  return "dialpad_jwt";
}

bool contains_nul(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::string:
      return j.get_ref<const std::string&>().find('\0') != std::string::npos;
    case nlohmann::json::value_t::object:
      for (const auto& [k, v] : j.items())
        if (k.find('\0') != std::string::npos || contains_nul(v))
          return true;
      return false;
    case nlohmann::json::value_t::array:
      for (const auto& v : j)
        if (contains_nul(v))
          return true;
      return false;
    default:
      return false;
  }
}

} // namespace cti
