// cti-load: a closed-loop HTTP/1.1 load generator for CTI Server benchmarks.
//
// Each of C connections sends one request, waits for the whole response,
// records the latency and sends the next, for D seconds (after a warm-up).
// Prints requests/s, latency percentiles and the status-code histogram as
// one JSON line, so scripts/bench.sh can collect the figures.
//
//   cti-load --port 4000 --path /health --connections 32 --duration 10
//            [--method GET] [--header 'Name: value']... [--body TEXT]
//            [--warmup 2] [--threads 1] [--rate R]
//
// --rate R paces the connections to R requests/s in all (each connection
// sends on its own schedule, evenly staggered), for latency at a fixed load
// instead of at saturation.
//
// Webhook mode: --webhooks N --secret S --path /webhooks/dialpad/<app_id>
//   [--call-base ID] (first call id; give concurrent runs distinct ones)
// pre-builds N distinct seed-format call events, each signed with
// X-Dialpad-Signature (HMAC-SHA256), and sends each once (so every request
// is a new event the server must store durably), wrapping around if the run
// outlasts them.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <openssl/hmac.h>

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

namespace {

struct options {
  std::string host = "127.0.0.1";
  uint16_t port = 4000;
  std::string method = "GET";
  std::string path = "/";
  std::vector<std::string> headers;
  std::string body;
  int connections = 16;
  double duration = 10;
  double warmup = 2;
  int threads = 1;
  std::size_t webhooks = 0;
  long long call_base = 9000000000000; ///< --call-base: first call id (distinct per concurrent run)
  std::string secret;
  double rate = 0;  ///< Requests/s over all connections; 0: as fast as possible.
  std::string label; ///< --label: written as "scenario" (scripts/bench.sh's table reads it).
};

struct results {
  std::mutex mtx;
  std::vector<uint32_t> latencies_us;
  std::map<int, uint64_t> statuses;
  uint64_t errors = 0;
};

std::string hmac_hex(const std::string& key, const std::string& data) {
  unsigned char out[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  static const char* digits = "0123456789abcdef";
  std::string hex;
  for (unsigned i = 0; i < len; ++i) {
    hex += digits[out[i] >> 4];
    hex += digits[out[i] & 15];
  }
  return hex;
}

/// N distinct signed call events: ring/connected/hangup of N/3 calls.
std::vector<std::string> build_webhooks(const options& o) {
  static const char* types[] = {"call.ring", "call.started", "call.ended"};
  std::vector<std::string> out;
  out.reserve(o.webhooks);
  auto run = std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
  for (std::size_t i = 0; i < o.webhooks; ++i) {
    auto call = o.call_base + static_cast<long long>(i / 3);
    std::string body = std::string{"{\"event_type\":\""} + types[i % 3]
                       + "\",\"event_id\":\"bench-" + run + "-" + std::to_string(i)
                       + "\",\"dialpad_call_id\":" + std::to_string(call)
                       + ",\"direction\":\"inbound\",\"from\":\"+17025550143\","
                         "\"to\":\"+14155550123\",\"user_id\":5171365938069504,"
                         "\"timestamp\":\"2026-01-28T10:30:0"
                       + std::to_string(i % 3) + "Z\"}";
    std::string req = "POST " + o.path + " HTTP/1.1\r\nHost: " + o.host
                      + "\r\nContent-Type: application/json\r\nX-Dialpad-Signature: "
                      + hmac_hex(o.secret, body) + "\r\nContent-Length: "
                      + std::to_string(body.size()) + "\r\n\r\n" + body;
    out.push_back(std::move(req));
  }
  return out;
}

std::string build_request(const options& o) {
  std::string req = o.method + " " + o.path + " HTTP/1.1\r\nHost: " + o.host + "\r\n";
  for (const auto& h : o.headers)
    req += h + "\r\n";
  if (!o.body.empty() || o.method == "POST")
    req += "Content-Length: " + std::to_string(o.body.size()) + "\r\n";
  req += "\r\n" + o.body;
  return req;
}

// Reads one response from `sock`, using `buf` for carry-over bytes.
asio::awaitable<int> read_response(tcp::socket& sock, std::string& buf) {
  for (;;) {
    auto end = buf.find("\r\n\r\n");
    if (end != std::string::npos) {
      int status = std::atoi(buf.c_str() + 9);
      std::size_t len = 0;
      auto cl = buf.find("Content-Length: ");
      if (cl == std::string::npos || cl > end)
        cl = buf.find("content-length: ");
      if (cl != std::string::npos && cl < end)
        len = std::strtoul(buf.c_str() + cl + 16, nullptr, 10);
      while (buf.size() < end + 4 + len) {
        char tmp[65536];
        auto n = co_await sock.async_read_some(asio::buffer(tmp), asio::use_awaitable);
        buf.append(tmp, n);
      }
      buf.erase(0, end + 4 + len);
      co_return status;
    }
    char tmp[65536];
    auto n = co_await sock.async_read_some(asio::buffer(tmp), asio::use_awaitable);
    buf.append(tmp, n);
  }
}

/// Where clients take their next request from.
struct request_source {
  std::string fixed;                  ///< The one request (normal mode).
  std::vector<std::string> distinct;  ///< Webhook mode: each sent once.
  std::atomic<std::size_t> next{0};
  const std::string& take() {
    if (distinct.empty())
      return fixed;
    return distinct[next.fetch_add(1, std::memory_order_relaxed) % distinct.size()];
  }
};

asio::awaitable<void> client(const options& o, int index, request_source& source,
                             clock_type::time_point measure_from,
                             clock_type::time_point stop_at, results& res) {
  auto ex = co_await asio::this_coro::executor;
  // Paced mode: this connection's send times, staggered across connections.
  const auto interval = o.rate > 0 ? std::chrono::duration_cast<clock_type::duration>(
                                       std::chrono::duration<double>(o.connections / o.rate))
                                   : clock_type::duration::zero();
  auto next_send = clock_type::now() + interval * index / std::max(1, o.connections);
  asio::steady_timer pacer{ex};
  std::vector<uint32_t> local;
  std::map<int, uint64_t> statuses;
  uint64_t errors = 0;
  while (clock_type::now() < stop_at) {
    try {
      tcp::socket sock{ex};
      co_await sock.async_connect({asio::ip::make_address(o.host), o.port}, asio::use_awaitable);
      sock.set_option(tcp::no_delay(true));
      std::string buf;
      while (clock_type::now() < stop_at) {
        if (interval > clock_type::duration::zero()) {
          pacer.expires_at(next_send);
          co_await pacer.async_wait(asio::use_awaitable);
          next_send += interval;
        }
        auto t0 = clock_type::now();
        const auto& request = source.take();
        co_await asio::async_write(sock, asio::buffer(request), asio::use_awaitable);
        int status = co_await read_response(sock, buf);
        auto t1 = clock_type::now();
        if (t0 >= measure_from) {
          local.push_back(static_cast<uint32_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count()));
          ++statuses[status];
        }
      }
    } catch (const std::exception&) {
      if (clock_type::now() >= measure_from)
        ++errors;
    }
  }
  std::lock_guard<std::mutex> guard{res.mtx};
  res.latencies_us.insert(res.latencies_us.end(), local.begin(), local.end());
  for (auto [k, v] : statuses)
    res.statuses[k] += v;
  res.errors += errors;
}

double percentile(const std::vector<uint32_t>& sorted, double p) {
  if (sorted.empty())
    return 0;
  auto idx = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1));
  return sorted[idx] / 1000.0;
}

} // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    std::string v = argv[i + 1];
    if (k == "--host") o.host = v;
    else if (k == "--port") o.port = static_cast<uint16_t>(std::stoi(v));
    else if (k == "--method") o.method = v;
    else if (k == "--path") o.path = v;
    else if (k == "--header") o.headers.push_back(v);
    else if (k == "--body") o.body = v;
    else if (k == "--connections") o.connections = std::stoi(v);
    else if (k == "--duration") o.duration = std::stod(v);
    else if (k == "--warmup") o.warmup = std::stod(v);
    else if (k == "--threads") o.threads = std::stoi(v);
    else if (k == "--webhooks") o.webhooks = std::stoul(v);
    else if (k == "--call-base") o.call_base = std::stoll(v);
    else if (k == "--secret") o.secret = v;
    else if (k == "--rate") o.rate = std::stod(v);
    else if (k == "--label") o.label = v;
    else {
      std::fprintf(stderr, "cti-load: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  request_source source;
  source.fixed = build_request(o);
  if (o.webhooks > 0)
    source.distinct = build_webhooks(o);
  asio::io_context ioc{o.threads};
  results res;
  auto start = clock_type::now();
  auto measure_from = start + std::chrono::milliseconds{static_cast<int>(o.warmup * 1000)};
  auto stop_at = measure_from + std::chrono::milliseconds{static_cast<int>(o.duration * 1000)};
  for (int i = 0; i < o.connections; ++i)
    asio::co_spawn(ioc, client(o, i, source, measure_from, stop_at, res), asio::detached);
  std::vector<std::thread> threads;
  for (int i = 1; i < o.threads; ++i)
    threads.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : threads)
    t.join();
  auto& lat = res.latencies_us;
  std::sort(lat.begin(), lat.end());
  double secs = o.duration;
  std::string statuses;
  for (auto [k, v] : res.statuses) {
    if (!statuses.empty())
      statuses += ",";
    statuses += "\"" + std::to_string(k) + "\":" + std::to_string(v);
  }
  if (!o.label.empty())
    std::printf("{\"scenario\":\"%s\",", o.label.c_str());
  else
    std::printf("{");
  std::printf("\"method\":\"%s\",\"path\":\"%s\",\"connections\":%d,\"duration_s\":%.1f,"
              "\"requests\":%zu,\"rps\":%.0f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
              "\"max_ms\":%.3f,\"errors\":%llu,\"statuses\":{%s}}\n",
              o.method.c_str(), o.path.c_str(), o.connections, secs, lat.size(),
              static_cast<double>(lat.size()) / secs, percentile(lat, 0.50),
              percentile(lat, 0.90), percentile(lat, 0.99), lat.empty() ? 0 : lat.back() / 1000.0,
              static_cast<unsigned long long>(res.errors), statuses.c_str());
  return 0;
}
