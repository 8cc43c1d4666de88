// WebSocket benchmarks (scripts/bench.sh runs them):
//
//   cti-ws-bench --port P --app APP --key KEY --secret S --mode latency --rate 500 --duration 60
//       one subscriber; signed call.ring webhooks due at RATE/s (open loop:
//       --post-connections keep-alive connections, default 8, share the
//       schedule); for each event: frame received − request sent. The JSON
//       has how long the posting took and how many posts left over 100 ms
//       after their due time (late_posts), so a run that did not hold the
//       rate shows it.
//       --ws-port Q puts the subscriber on another node (cluster figures).
//   cti-ws-bench ... --mode fanout --connections 10000 [--reader beast|raw]
//       N subscribers, then one webhook: time from the first frame received
//       to the last (every subscriber must get it). --reader raw: after
//       each subscriber's welcome (read through Beast), the event is read
//       with plain recv() on an epoll per --threads thread and found by its
//       `"call_id":N` in the bytes, with no frame parsing: the client's CPU
//       per frame is a recv, so on this 2-core machine more of it is left
//       to the server (the JSON line has both processes' CPU time when
//       --server-pid is given).
//   cti-ws-bench ... --mode idle --connections 20000 [--hold 5]
//       N idle subscribers, held open HOLD seconds (the script reads the
//       server's RSS meanwhile); connections spread over 127.0.0.x sources.
//   cti-ws-bench ... --mode reconnect --connections 2000 --missed 100
//       a reconnect storm: MISSED events posted (and seen live), then N
//       subscribers open at once with since= the seq before them; each must
//       get the MISSED events in order. Time from the first open to the
//       last subscriber caught up, and how many were closed instead (1011:
//       the replay's read failed).
//
// Prints one JSON line. Single-threaded asio for the sockets; the webhook
// senders (latency mode) are threads with blocking I/O.
//
// Profiling the fan-out: with CTI_WSB_READY_FILE=F set, fanout mode creates
// F once every subscriber has its welcome, waits until F.go exists before it
// posts the webhook, and stays 2 s after the last frame (so a profiler
// started in between sees the fan-out and not the connection set-up or
// teardown). docs/BENCHMARKS.md shows the perf commands.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <openssl/hmac.h>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

namespace {

struct options {
  uint16_t port = 4000;
  uint16_t ws_port = 0; ///< --ws-port: where subscribers connect (default: --port)
  std::string app, key, secret, mode = "latency";
  double rate = 500, duration = 60, hold = 5;
  int connections = 1;
  int threads = 1; ///< --threads: threads reading the subscribers (fanout)
  int post_connections = 8; ///< --post-connections: webhook senders (latency)
  int missed = 100;         ///< --missed: events a reconnecting subscriber missed
  int64_t since = -1;       ///< Subscribers open with since= this (reconnect; -1: none).
  int64_t want_upto = 0;    ///< The seq a reconnecting subscriber waits for.
  std::string reader = "beast"; ///< --reader: how fanout reads the event (beast|raw)
  int server_pid = 0;           ///< --server-pid: report its CPU time over the fan-out
};

std::string hmac_hex(const std::string& key, const std::string& data) {
  unsigned char out[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (unsigned i = 0; i < len; ++i) {
    s += hex[out[i] >> 4];
    s += hex[out[i] & 15];
  }
  return s;
}

/// A blocking keep-alive HTTP connection that posts signed webhooks.
class poster {
public:
  poster(asio::io_context& ioc, const options& o) : sock_(ioc), o_(o) {
    sock_.connect(tcp::endpoint{asio::ip::make_address("127.0.0.1"), o.port});
    sock_.set_option(tcp::no_delay(true));
  }
  /// Posts a call.ring for `call`; true on 200.
  bool post(int64_t call) {
    std::string body = R"({"event_type":"call.ring","event_id":"wsb-)" + std::to_string(call)
                       + R"(","call_id":)" + std::to_string(call)
                       + R"(,"direction":"inbound","from_number":"+15550001111","to_number":"+15550002222"})";
    std::string req = "POST /webhooks/dialpad/" + o_.app
                      + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Dialpad-Signature: "
                      + hmac_hex(o_.secret, body) + "\r\nContent-Length: " + std::to_string(body.size())
                      + "\r\n\r\n" + body;
    asio::write(sock_, asio::buffer(req));
    // Read one response (headers + Content-Length body).
    for (;;) {
      auto end = buf_.find("\r\n\r\n");
      if (end != std::string::npos) {
        auto cl = buf_.find("Content-Length: ");
        std::size_t len = cl == std::string::npos ? 0 : std::stoul(buf_.substr(cl + 16));
        if (buf_.size() >= end + 4 + len) {
          bool ok = buf_.compare(9, 3, "200") == 0;
          buf_.erase(0, end + 4 + len);
          return ok;
        }
      }
      char tmp[4096];
      auto n = sock_.read_some(asio::buffer(tmp));
      buf_.append(tmp, n);
    }
  }

private:
  tcp::socket sock_;
  const options& o_;
  std::string buf_;
};

/// One subscriber connection, reading frames asynchronously.
struct subscriber : std::enable_shared_from_this<subscriber> {
  websocket::stream<beast::tcp_stream> ws;
  beast::flat_buffer buf;
  std::function<void(const std::string&)> on_frame;
  bool open = false;
  int frames = 0; ///< Every frame read, whether on_frame was set yet or not.
  /// Why reading ended, when it did: Beast's error and the close frame's code.
  std::string ended;
  int close_code = 0;
  // Reconnect mode: the event seqs must come in order from since + 1 up to
  // want_upto; when the last came.
  int64_t next_seq = 0, want_upto = 0;
  bool out_of_order = false;
  /// Read through Beast only until the first frame (fanout --reader raw).
  bool first_frame_only = false;
  clock_type::time_point done_at{};
  explicit subscriber(asio::io_context& ioc) : ws(ioc) {}

  void start(const options& o, int index, std::function<void(bool)> done) {
    auto self = shared_from_this();
    first_frame_only = o.mode == "fanout" && o.reader == "raw";
    // Spread over 127.0.0.1..127.0.0.250: one source address holds ~28k ports.
    auto src = asio::ip::make_address_v4("127.0.0." + std::to_string(1 + index % 250));
    auto& sock = beast::get_lowest_layer(ws).socket();
    beast::error_code ec;
    sock.open(tcp::v4(), ec);
    sock.bind(tcp::endpoint{src, 0}, ec);
    beast::get_lowest_layer(ws).async_connect(
      tcp::endpoint{asio::ip::make_address("127.0.0.1"), o.ws_port ? o.ws_port : o.port},
      [self, &o, done](beast::error_code ec) {
        if (ec)
          return done(false);
        std::string target = "/ws?api_key=" + o.key;
        if (o.since >= 0) {
          target += "&since=" + std::to_string(o.since);
          self->next_seq = o.since + 1;
          self->want_upto = o.want_upto;
        }
        self->ws.async_handshake("127.0.0.1", target,
                                 [self, done](beast::error_code ec) {
                                   self->open = !ec;
                                   done(!ec);
                                   if (!ec)
                                     self->read();
                                 });
      });
  }

  void read() {
    auto self = shared_from_this();
    ws.async_read(buf, [self](beast::error_code ec, std::size_t) {
      if (ec) {
        self->open = false;
        self->close_code = self->ws.reason().code;
        self->ended = ec.message() + " (close code " + std::to_string(self->ws.reason().code)
                      + ")";
        return;
      }
      auto text = beast::buffers_to_string(self->buf.data());
      self->buf.consume(self->buf.size());
      ++self->frames;
      if (self->want_upto > 0 && text.find("\"type\":\"event\"") != std::string::npos) {
        auto pos = text.find("\"seq\":");
        auto seq = pos == std::string::npos ? -1 : std::strtoll(text.c_str() + pos + 6, nullptr, 10);
        if (seq != self->next_seq)
          self->out_of_order = true;
        self->next_seq = seq + 1;
        if (seq == self->want_upto)
          self->done_at = clock_type::now();
      }
      if (self->on_frame)
        self->on_frame(text);
      if (!self->first_frame_only)
        self->read();
    });
  }
};

/// Opens `n` subscribers on `ioc` (at most 500 handshakes in flight).
std::vector<std::shared_ptr<subscriber>> open_all(asio::io_context& ioc, const options& o, int n,
                                                  int& failed) {
  std::vector<std::shared_ptr<subscriber>> subs;
  int started = 0, finished = 0;
  failed = 0;
  std::function<void()> launch;
  launch = [&] {
    while (started < n && started - finished < 500) {
      auto s = std::make_shared<subscriber>(ioc);
      subs.push_back(s);
      s->start(o, started++, [&](bool ok) {
        ++finished;
        if (!ok)
          ++failed;
        launch();
      });
    }
  };
  launch();
  while (finished < n)
    ioc.run_one();
  return subs;
}

/// Runs `ioc` until `pred` or `deadline`.
template <class Pred>
void run_until(asio::io_context& ioc, Pred pred, clock_type::time_point deadline) {
  while (!pred() && clock_type::now() < deadline)
    ioc.run_one_for(std::chrono::milliseconds{50});
}

double pct(std::vector<double>& v, double p) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

int64_t call_of(const std::string& frame) {
  auto pos = frame.find("\"call_id\":");
  if (pos == std::string::npos)
    return -1;
  return std::strtoll(frame.c_str() + pos + 10, nullptr, 10);
}

/// CPU time (user + system) of this process, ms.
double own_cpu_ms() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto ms = [](const timeval& t) { return t.tv_sec * 1e3 + t.tv_usec / 1e3; };
  return ms(ru.ru_utime) + ms(ru.ru_stime);
}

/// CPU time (user + system) of process `pid`, ms (-1: unknown).
double process_cpu_ms(int pid) {
  if (pid <= 0)
    return -1;
  std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (!f)
    return -1;
  char buf[1024];
  std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = 0;
  // Fields after the command's closing parenthesis: state is field 3,
  // utime and stime are 14 and 15.
  const char* p = std::strrchr(buf, ')');
  if (!p)
    return -1;
  unsigned long long utime = 0, stime = 0;
  if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
    return -1;
  return static_cast<double>(utime + stime) * 1e3 / static_cast<double>(sysconf(_SC_CLK_TCK));
}

/// When the fan-out's frame reached the subscribers, read raw.
struct raw_result {
  int got = 0;
  clock_type::time_point first{}, last{};
};

/// Reads the fanned-out frame on every socket with recv() (one epoll per
/// thread, each over its share of the sockets, registered before the
/// post): a socket counts when its bytes contain `marker` not followed by
/// a digit. Nothing else is parsed.
class raw_fanout_reader {
public:
  raw_fanout_reader(std::vector<int> fds, int threads) : fds_(std::move(fds)), carry_(fds_.size()) {
    for (int t = 0; t < threads; ++t) {
      int ep = epoll_create1(0);
      for (std::size_t i = static_cast<std::size_t>(t); i < fds_.size(); i += static_cast<std::size_t>(threads)) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = i;
        epoll_ctl(ep, EPOLL_CTL_ADD, fds_[i], &ev);
      }
      eps_.push_back(ep);
    }
  }
  raw_fanout_reader(const raw_fanout_reader&) = delete;
  raw_fanout_reader& operator=(const raw_fanout_reader&) = delete;
  ~raw_fanout_reader() {
    for (int ep : eps_)
      close(ep);
  }

  /// Starts the reading threads; `join` waits for every socket's frame or
  /// the deadline.
  void start(std::string marker, clock_type::time_point deadline) {
    marker_ = std::move(marker);
    per_.assign(eps_.size(), raw_result{});
    for (std::size_t t = 0; t < eps_.size(); ++t)
      pool_.emplace_back([this, t, deadline] { loop(t, deadline); });
  }

  raw_result join() {
    for (auto& th : pool_)
      th.join();
    pool_.clear();
    raw_result all;
    for (const auto& r : per_) {
      if (r.got == 0)
        continue;
      if (all.got == 0 || r.first < all.first)
        all.first = r.first;
      if (all.got == 0 || r.last > all.last)
        all.last = r.last;
      all.got += r.got;
    }
    return all;
  }

private:
  void loop(std::size_t t, clock_type::time_point deadline) {
    const int want = static_cast<int>(fds_.size());
    auto& r = per_[t];
    std::vector<char> buf(1 << 16);
    epoll_event evs[512];
    while (got_.load(std::memory_order_relaxed) < want && clock_type::now() < deadline) {
      int n = epoll_wait(eps_[t], evs, 512, 20);
      for (int e = 0; e < n; ++e) {
        auto i = static_cast<std::size_t>(evs[e].data.u64);
        bool found = false, ended = false;
        for (;;) {
          auto k = recv(fds_[i], buf.data(), buf.size(), MSG_DONTWAIT);
          if (k <= 0) {
            ended = k == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
            break;
          }
          // What the previous read of this socket ended with goes first,
          // in case the marker is split between two reads.
          std::string hay = carry_[i];
          hay.append(buf.data(), static_cast<std::size_t>(k));
          for (auto pos = hay.find(marker_); pos != std::string::npos; pos = hay.find(marker_, pos + 1)) {
            auto after = pos + marker_.size();
            if (after >= hay.size() || hay[after] < '0' || hay[after] > '9') {
              found = true;
              break;
            }
          }
          carry_[i] = hay.substr(hay.size() > marker_.size() ? hay.size() - marker_.size() : 0);
          if (found)
            break;
        }
        if (found) {
          auto now = clock_type::now();
          if (r.got++ == 0)
            r.first = now;
          r.last = now;
          got_.fetch_add(1, std::memory_order_relaxed);
        }
        if (found || ended)
          epoll_ctl(eps_[t], EPOLL_CTL_DEL, fds_[i], nullptr);
      }
    }
  }

  std::vector<int> fds_;
  std::vector<std::string> carry_; ///< Per socket (each read by one thread only).
  std::vector<int> eps_;
  std::string marker_;
  std::vector<raw_result> per_;
  std::vector<std::thread> pool_;
  std::atomic<int> got_{0};
};

} // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--port") o.port = static_cast<uint16_t>(std::stoi(v));
    else if (k == "--ws-port") o.ws_port = static_cast<uint16_t>(std::stoi(v));
    else if (k == "--app") o.app = v;
    else if (k == "--key") o.key = v;
    else if (k == "--secret") o.secret = v;
    else if (k == "--mode") o.mode = v;
    else if (k == "--rate") o.rate = std::stod(v);
    else if (k == "--duration") o.duration = std::stod(v);
    else if (k == "--hold") o.hold = std::stod(v);
    else if (k == "--connections") o.connections = std::stoi(v);
    else if (k == "--threads") o.threads = std::max(1, std::stoi(v));
    else if (k == "--post-connections") o.post_connections = std::max(1, std::stoi(v));
    else if (k == "--missed") o.missed = std::max(1, std::stoi(v));
    else if (k == "--reader") o.reader = v;
    else if (k == "--server-pid") o.server_pid = std::stoi(v);
  }
  if (o.reader != "beast" && o.reader != "raw") {
    std::fprintf(stderr, "--reader is beast or raw\n");
    return 2;
  }
  asio::io_context ioc;
  auto base = (std::chrono::system_clock::now().time_since_epoch().count() / 1000) % 1000000000LL
              * 1000;
  if (o.mode == "latency") {
    int failed = 0;
    auto subs = open_all(ioc, o, 1, failed);
    if (failed) {
      std::printf("{\"error\":\"subscribe failed\"}\n");
      return 1;
    }
    std::mutex mtx;
    std::map<int64_t, clock_type::time_point> sent;
    std::vector<double> lat;
    subs[0]->on_frame = [&](const std::string& f) {
      auto call = call_of(f);
      auto now = clock_type::now();
      std::lock_guard<std::mutex> g{mtx};
      if (auto it = sent.find(call); it != sent.end()) {
        lat.push_back(std::chrono::duration<double, std::milli>(now - it->second).count());
        sent.erase(it);
      }
    };
    // Open loop: the events are due at RATE/s from the start whatever the
    // answers take. Several keep-alive connections share the schedule (event
    // i goes out on connection i mod N), so one slow answer does not hold
    // the events behind it: a single blocking connection fell below the
    // rate when answers took over 1/RATE s, and the bench then measured a
    // lower rate than it claimed.
    const int senders = std::max(1, o.post_connections);
    const auto total = static_cast<int64_t>(o.rate * o.duration);
    std::atomic<int> senders_done{0};
    std::atomic<int64_t> posted{0}, errors{0}, late{0};
    std::atomic<int64_t> last_post_ns{0};
    const auto start = clock_type::now() + std::chrono::milliseconds{100};
    std::vector<std::thread> threads;
    for (int k = 0; k < senders; ++k)
      threads.emplace_back([&, k] {
        asio::io_context pio;
        poster p{pio, o};
        for (int64_t i = k; i < total; i += senders) {
          auto due = start + std::chrono::duration_cast<clock_type::duration>(
                               std::chrono::duration<double>(static_cast<double>(i) / o.rate));
          std::this_thread::sleep_until(due);
          auto call = base + i;
          auto now = clock_type::now();
          if (now - due > std::chrono::milliseconds{100})
            ++late; // every connection was busy with an earlier answer
          {
            std::lock_guard<std::mutex> g{mtx};
            sent[call] = now;
          }
          if (!p.post(call))
            ++errors;
          ++posted;
        }
        auto took = std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now() - start)
                      .count();
        for (auto seen = last_post_ns.load();
             took > seen && !last_post_ns.compare_exchange_weak(seen, took);) {
        }
        ++senders_done;
      });
    // Frames are read until every event is posted (however long that
    // takes), then for at most 10 s more.
    run_until(ioc, [&] { return senders_done.load() == senders; },
              clock_type::time_point::max());
    run_until(ioc, [&] { std::lock_guard<std::mutex> g{mtx}; return sent.empty(); },
              clock_type::now() + std::chrono::seconds{10});
    for (auto& t : threads)
      t.join();
    std::lock_guard<std::mutex> g{mtx};
    const double posting_s = static_cast<double>(last_post_ns.load()) / 1e9;
    // When the events whose frame never came were posted (s after the
    // start): a stall shows as one span, a loss as scattered ones.
    double missing_from_s = 0, missing_to_s = 0;
    if (!sent.empty()) {
      auto [lo, hi] = std::minmax_element(sent.begin(), sent.end(), [](const auto& a, const auto& b) {
        return a.second < b.second;
      });
      missing_from_s = std::chrono::duration<double>(lo->second - start).count();
      missing_to_s = std::chrono::duration<double>(hi->second - start).count();
    }
    std::printf("{\"scenario\":\"webhook_to_ws_frame\",\"rate\":%.0f,\"duration_s\":%.0f,\"events\":%lld,"
                "\"post_connections\":%d,\"posting_s\":%.1f,\"late_posts\":%lld,"
                "\"received\":%zu,\"missing\":%zu,\"post_errors\":%lld,\"p50_ms\":%.2f,\"p90_ms\":%.2f,"
                "\"p99_ms\":%.2f,\"max_ms\":%.2f,\"missing_posted_s\":[%.1f,%.1f],\"subscriber_ended\":\"%s\"}\n",
                o.rate, o.duration, static_cast<long long>(posted.load()), senders, posting_s,
                static_cast<long long>(late.load()), lat.size(), sent.size(),
                static_cast<long long>(errors.load()), pct(lat, 0.5), pct(lat, 0.9), pct(lat, 0.99),
                pct(lat, 1.0), missing_from_s, missing_to_s, subs[0]->ended.c_str());
    return 0;
  }
  if (o.mode == "reconnect") {
    // One live subscriber sees the missed events go by: the last one's seq
    // is where the stream stands.
    int failed = 0;
    auto live = open_all(ioc, o, 1, failed);
    if (failed) {
      std::printf("{\"error\":\"subscribe failed\"}\n");
      return 1;
    }
    int64_t last_seq = 0;
    int seen = 0;
    live[0]->on_frame = [&](const std::string& f) {
      if (call_of(f) >= base && call_of(f) < base + o.missed) {
        ++seen;
        auto pos = f.find("\"seq\":");
        last_seq = std::max<int64_t>(last_seq, std::strtoll(f.c_str() + pos + 6, nullptr, 10));
      }
    };
    {
      asio::io_context pio;
      poster p{pio, o};
      for (int i = 0; i < o.missed; ++i)
        if (!p.post(base + i)) {
          std::printf("{\"error\":\"post failed\"}\n");
          return 1;
        }
    }
    run_until(ioc, [&] { return seen >= o.missed; }, clock_type::now() + std::chrono::seconds{60});
    if (seen < o.missed) {
      std::printf("{\"error\":\"the live subscriber saw %d of %d events\"}\n", seen, o.missed);
      return 1;
    }
    o.since = last_seq - o.missed;
    o.want_upto = last_seq;
    auto t0 = clock_type::now();
    auto subs = open_all(ioc, o, o.connections, failed);
    auto open_s = std::chrono::duration<double>(clock_type::now() - t0).count();
    auto settled = [&] {
      for (const auto& s : subs)
        if (s->open && s->done_at == clock_type::time_point{})
          return false;
      return true;
    };
    run_until(ioc, settled, clock_type::now() + std::chrono::seconds{120});
    int complete = 0, out_of_order = 0, closed = 0, closed_1011 = 0, stuck = 0;
    std::vector<double> done;
    for (const auto& s : subs) {
      if (s->done_at != clock_type::time_point{}) {
        ++complete;
        done.push_back(std::chrono::duration<double, std::milli>(s->done_at - t0).count());
      } else if (s->open) {
        ++stuck;
      }
      if (s->out_of_order)
        ++out_of_order;
      if (!s->open && s->done_at == clock_type::time_point{}) {
        ++closed;
        if (s->close_code == 1011)
          ++closed_1011;
      }
    }
    std::printf("{\"scenario\":\"ws_reconnect_storm\",\"connections\":%d,\"missed\":%d,"
                "\"failed\":%d,\"complete\":%d,\"out_of_order\":%d,\"closed\":%d,"
                "\"closed_1011\":%d,\"stuck\":%d,\"open_s\":%.2f,\"caught_up_p50_ms\":%.0f,"
                "\"caught_up_last_ms\":%.0f}\n",
                o.connections, o.missed, failed, complete, out_of_order, closed, closed_1011, stuck,
                open_s, pct(done, 0.5), pct(done, 1.0));
    return 0;
  }
  // fanout / idle: many subscribers.
  int failed = 0;
  auto t0 = clock_type::now();
  auto subs = open_all(ioc, o, o.connections, failed);
  auto open_s = std::chrono::duration<double>(clock_type::now() - t0).count();
  // Every subscriber first gets its welcome (often while the others are
  // still opening: counted by `frames`, not by a callback set afterwards).
  auto welcomed = [&] {
    int n = 0;
    for (const auto& s : subs)
      n += s->frames > 0 ? 1 : 0;
    return n;
  };
  run_until(ioc, [&] { return welcomed() >= o.connections - failed; },
            clock_type::now() + std::chrono::seconds{60});
  if (o.mode == "idle") {
    std::printf("{\"scenario\":\"ws_idle\",\"connections\":%d,\"failed\":%d,\"open_s\":%.1f}\n",
                o.connections, failed, open_s);
    std::fflush(stdout);
    run_until(ioc, [] { return false; },
              clock_type::now() + std::chrono::duration_cast<clock_type::duration>(
                                    std::chrono::duration<double>(o.hold)));
    return 0;
  }
  int64_t call = base + 999999;
  asio::io_context pio;
  poster p{pio, o};
  // Profiling hook: say we are ready, wait for <file>.go before posting.
  auto wait_for_go = [] {
    if (const char* ready = std::getenv("CTI_WSB_READY_FILE")) {
      std::FILE* f = std::fopen(ready, "w");
      if (f)
        std::fclose(f);
      std::string go = std::string{ready} + ".go";
      while (!std::filesystem::exists(go))
        std::this_thread::sleep_for(std::chrono::milliseconds{5});
    }
  };
  int received = 0;
  bool ok = false;
  clock_type::time_point posted_at{}, first{}, last{};
  double client_cpu = 0, server_cpu = 0;
  if (o.reader == "raw") {
    // Every subscriber stopped reading through Beast after its welcome;
    // from here its socket is read raw.
    std::vector<int> fds;
    for (const auto& s : subs)
      if (s->open)
        fds.push_back(beast::get_lowest_layer(s->ws).socket().native_handle());
    raw_fanout_reader reader{std::move(fds), o.threads};
    wait_for_go();
    client_cpu = -own_cpu_ms();
    server_cpu = -process_cpu_ms(o.server_pid);
    reader.start("\"call_id\":" + std::to_string(call), clock_type::now() + std::chrono::seconds{30});
    posted_at = clock_type::now();
    ok = p.post(call);
    auto r = reader.join();
    client_cpu += own_cpu_ms();
    server_cpu += process_cpu_ms(o.server_pid);
    received = r.got;
    first = r.first;
    last = r.last;
  } else {
    std::atomic<int> got{0};
    std::mutex when_mtx;
    for (auto& s : subs)
      s->on_frame = [&](const std::string& f) {
        if (call_of(f) != call)
          return;
        auto now = clock_type::now();
        {
          std::lock_guard<std::mutex> g{when_mtx};
          if (first == clock_type::time_point{} || now < first)
            first = now;
          if (now > last)
            last = now;
        }
        if (++got >= o.connections - failed)
          ioc.stop();
      };
    // More than one thread reads the subscribers (each socket has one read
    // outstanding at a time, so its handlers never run concurrently).
    auto work = asio::make_work_guard(ioc);
    std::vector<std::thread> readers;
    for (int i = 1; i < o.threads; ++i)
      readers.emplace_back([&] { ioc.run_for(std::chrono::seconds{30}); });
    wait_for_go();
    client_cpu = -own_cpu_ms();
    server_cpu = -process_cpu_ms(o.server_pid);
    posted_at = clock_type::now();
    ok = p.post(call);
    if (got < o.connections - failed)
      ioc.run_for(std::chrono::seconds{30});
    ioc.stop();
    for (auto& t : readers)
      t.join();
    client_cpu += own_cpu_ms();
    server_cpu += process_cpu_ms(o.server_pid);
    received = got.load();
  }
  // CPU times span the post to the last frame (and, with the Beast reader,
  // its idle threads' wake-ups); the server's is -1 without --server-pid.
  std::printf("{\"scenario\":\"ws_fanout\",\"reader\":\"%s\",\"connections\":%d,\"failed\":%d,"
              "\"post_ok\":%s,\"received\":%d,\"post_to_first_ms\":%.2f,\"first_to_last_ms\":%.2f,"
              "\"client_cpu_ms\":%.1f,\"server_cpu_ms\":%.1f}\n",
              o.reader.c_str(), o.connections, failed, ok ? "true" : "false", received,
              std::chrono::duration<double, std::milli>(first - posted_at).count(),
              std::chrono::duration<double, std::milli>(last - first).count(), client_cpu,
              o.server_pid > 0 ? server_cpu : -1.0);
  std::fflush(stdout);
  if (std::getenv("CTI_WSB_READY_FILE"))
    std::this_thread::sleep_for(std::chrono::seconds{2}); // keep the teardown out of the profile
  return 0;
}
