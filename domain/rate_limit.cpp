#include "domain/rate_limit.hpp"

namespace cti {

namespace {

/// Past this many keys, windows that ended are dropped (memory stays bounded
/// under a flood of addresses).
constexpr std::size_t purge_threshold = 100000;

} // namespace

window_limiter::window_limiter(int64_t limit, std::chrono::seconds window)
  : limit_(limit), window_(window) {
}

window_limiter::slot& window_limiter::current(std::string_view key, clock::time_point now) {
  if (slots_.size() >= purge_threshold) {
    for (auto it = slots_.begin(); it != slots_.end();)
      it = now - it->second.start >= window_ ? slots_.erase(it) : std::next(it);
    if (slots_.size() >= purge_threshold)
      slots_.clear();
  }
  auto& s = slots_[std::string{key}];
  if (s.count == 0 || now - s.start >= window_) {
    s.start = now;
    s.count = 0;
  }
  return s;
}

int64_t window_limiter::wait(const slot& s, clock::time_point now) const {
  if (s.count < limit_)
    return 0;
  auto left = std::chrono::duration_cast<std::chrono::seconds>(s.start + window_ - now).count();
  return left < 1 ? 1 : left;
}

int64_t window_limiter::admit(std::string_view key, clock::time_point now) {
  if (limit_ <= 0)
    return 0;
  std::lock_guard lk{mu_};
  auto& s = current(key, now);
  if (auto w = wait(s, now); w > 0)
    return w;
  ++s.count;
  return 0;
}

} // namespace cti
