#include "domain/call_status.hpp"

#include <array>

namespace cti {

namespace {

constexpr std::array<std::pair<call_status, std::string_view>, 7> names{{
  {call_status::ringing, "ringing"},
  {call_status::active, "active"},
  {call_status::held, "held"},
  {call_status::ended, "ended"},
  {call_status::missed, "missed"},
  {call_status::rejected, "rejected"},
  {call_status::voicemail, "voicemail"},
}};

} // namespace

std::string_view to_string(call_status s) {
  for (const auto& [status, name] : names)
    if (status == s)
      return name;
  return "ringing";
}

std::optional<call_status> parse_call_status(std::string_view text) {
  for (const auto& [status, name] : names)
    if (name == text)
      return status;
  return std::nullopt;
}

bool is_terminal(call_status s) {
  return s == call_status::ended || s == call_status::missed || s == call_status::rejected;
}

bool is_live(call_status s) {
  return s == call_status::ringing || s == call_status::active || s == call_status::held;
}

bool transition_allowed(call_status from, call_status to) {
  using enum call_status;
  // The same status again is idempotent: a repeat delivery is never an error.
  if (from == to)
    return true;
  switch (from) {
    case ringing:
      return to == active || to == held || to == ended || to == missed || to == rejected
             || to == voicemail;
    case active:
      return to == held || to == ended || to == voicemail;
    case held:
      return to == active || to == ended;
    case voicemail:
      // Dialpad reports the outcome of a voicemail call after the voicemail.
      return to == ended || to == missed;
    case ended:
    case missed:
    case rejected:
      return false;
  }
  return false;
}

} // namespace cti
