#pragma once

#include <chrono>

namespace cti {

/// Delay before retrying an event whose handler failed `attempts` times:
/// exponential from 1 s, doubling per attempt, capped at 1 h, with
/// `jitter` in [0, 1) spreading it by up to ±20 % so failed events of one
/// burst do not retry in lockstep.
std::chrono::milliseconds retry_delay(int attempts, double jitter);

} // namespace cti
