#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace cti {

/// This node's WebSocket figures (thread-safe): `/metrics` and
/// `/internal/monitoring/websocket/stats`.
class ws_stats {
public:
  void opened(const std::string& app) {
    ++connections_;
    std::lock_guard<std::mutex> guard{mtx_};
    ++per_app_[app];
  }
  void closed(const std::string& app) {
    --connections_;
    std::lock_guard<std::mutex> guard{mtx_};
    if (auto it = per_app_.find(app); it != per_app_.end() && --it->second <= 0)
      per_app_.erase(it);
  }
  void sent() { ++messages_sent_; }
  void dropped_slow_consumer() { ++dropped_; }

  int64_t connections() const { return connections_.load(); }
  uint64_t messages_sent() const { return messages_sent_.load(); }
  uint64_t dropped_slow_consumers() const { return dropped_.load(); }
  std::map<std::string, int64_t> per_app() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return per_app_;
  }

private:
  std::atomic<int64_t> connections_{0};
  std::atomic<uint64_t> messages_sent_{0};
  std::atomic<uint64_t> dropped_{0};
  mutable std::mutex mtx_;
  std::map<std::string, int64_t> per_app_;
};

} // namespace cti
