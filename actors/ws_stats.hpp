#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include <caf/actor_addr.hpp>

#include "actors/messages.hpp"

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

/// The connection behind each ws_session actor, so a tenant can hand a
/// frame straight to it (one post to its strand) instead of sending each
/// session actor a message: a fan-out to 10,000 sessions is then 10,000
/// posts, not 10,000 actor wake-ups.
class ws_sink_directory {
public:
  void add(const caf::actor_addr& session, std::weak_ptr<ws_sink> sink) {
    std::lock_guard<std::mutex> guard{mtx_};
    sinks_[session] = std::move(sink);
  }
  void remove(const caf::actor_addr& session) {
    std::lock_guard<std::mutex> guard{mtx_};
    sinks_.erase(session);
  }
  std::weak_ptr<ws_sink> find(const caf::actor_addr& session) const {
    std::lock_guard<std::mutex> guard{mtx_};
    auto it = sinks_.find(session);
    return it == sinks_.end() ? std::weak_ptr<ws_sink>{} : it->second;
  }

private:
  mutable std::mutex mtx_;
  std::unordered_map<caf::actor_addr, std::weak_ptr<ws_sink>> sinks_;
};

} // namespace cti
