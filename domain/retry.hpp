#pragma once

#include <chrono>

namespace cti {

/// Delay before retrying an event whose handler failed `attempts` times:
/// exponential from 1 s, doubling per attempt, with `jitter` in [0, 1)
/// spreading it by up to ±20 % so failed events of one burst do not retry
/// in lockstep; never more than 1 h (the cap applies after the jitter).
std::chrono::milliseconds retry_delay(int attempts, double jitter);

} // namespace cti
