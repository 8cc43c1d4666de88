#include "domain/retry.hpp"

#include <algorithm>
#include <cmath>

namespace cti {

std::chrono::milliseconds retry_delay(int attempts, double jitter) {
  constexpr double base_ms = 1000;
  constexpr double cap_ms = 3600.0 * 1000;
  int exponent = std::clamp(attempts - 1, 0, 30);
  double ms = std::min(base_ms * std::pow(2.0, exponent), cap_ms);
  double factor = 0.8 + 0.4 * std::clamp(jitter, 0.0, 0.999999);
  // The cap holds after the jitter too: never more than an hour.
  return std::chrono::milliseconds{static_cast<long long>(std::min(ms * factor, cap_ms))};
}

} // namespace cti
