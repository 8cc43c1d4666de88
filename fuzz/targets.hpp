#pragma once

// The fuzz targets' bodies, shared by the libFuzzer binaries (fuzz/*.cpp,
// built with clang by scripts/fuzz.sh) and by the regression unit test that
// replays every input in fuzz/regressions/ under the normal build. Each
// takes arbitrary bytes, drives one parser of untrusted input the way the
// server does, and aborts (through CTI_FUZZ_CHECK) when an invariant breaks.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace cti::fuzz {

/// A webhook body: depth check, strict JSON parse, then every extraction
/// the intake and the processor make (event type, id, org, event data,
/// serial).
void extract(std::string_view data);
/// A webhook body through the sanitizer that makes `calls.raw_payload`.
void sanitize(std::string_view data);
/// Signature and JWT parsing: the bytes as a JWT, as a hex signature of
/// themselves, base64url round trips, and the wire-format classification.
void webhook_auth(std::string_view data);
/// A request line's method and target through the router and the query
/// string parser.
void router(std::string_view data);
/// A `cursor` (and `limit`) through the page parser of a list.
void cursor(std::string_view data);

/// The targets by name ("extract", "sanitize", "webhook_auth", "router",
/// "cursor"); null for another name.
using target_fn = void (*)(std::string_view);
target_fn target_named(std::string_view name);

} // namespace cti::fuzz
