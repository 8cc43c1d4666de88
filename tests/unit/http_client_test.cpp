// The outbound client against local sockets: answers read whole, every
// failure named, deadlines kept, plain HTTP only to loopback.

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "net/http_client.hpp"

namespace cti::net {
namespace {

/// A listening socket on 127.0.0.1 with a port of its own.
struct listener {
  int fd = -1;
  uint16_t port = 0;
  listener() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd, 8);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~listener() { ::close(fd); }
  /// Accepts one connection, reads the request head, writes `answer`, closes.
  /// With `whole_head` false, answers after the first bytes (a TLS hello).
  std::thread serve_once(std::string answer, std::string* request = nullptr,
                         bool whole_head = true) {
    return std::thread{[this, answer, request, whole_head] {
      int c = ::accept(fd, nullptr, nullptr);
      if (c < 0)
        return;
      std::string got;
      char buf[4096];
      while (got.find("\r\n\r\n") == std::string::npos) {
        auto n = ::read(c, buf, sizeof buf);
        if (n <= 0)
          break;
        got.append(buf, static_cast<std::size_t>(n));
        if (!whole_head)
          break;
      }
      if (request)
        *request = got;
      (void)!::write(c, answer.data(), answer.size());
      ::close(c);
    }};
  }
};

outbound_request get(const std::string& url, int timeout_ms = 2000) {
  outbound_request r;
  r.url = url;
  r.timeout_ms = timeout_ms;
  return r;
}

TEST(HttpClient, ReadsAnAnswerWithLowercasedHeaders) {
  listener l;
  std::string request;
  auto t = l.serve_once("HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                        "X-Thing: 7\r\nContent-Length: 11\r\n\r\n{\"ok\":true}",
                        &request);
  outbound_request r = get("http://127.0.0.1:" + std::to_string(l.port) + "/oauth2/token?x=1");
  r.method = "POST";
  r.body = "a=b";
  r.headers.push_back({"Content-Type", "application/x-www-form-urlencoded"});
  auto res = perform_http(r, {});
  t.join();
  EXPECT_EQ(res.error, "");
  EXPECT_EQ(res.status, 201);
  EXPECT_EQ(res.body, "{\"ok\":true}");
  ASSERT_NE(res.header("x-thing"), nullptr);
  EXPECT_EQ(*res.header("x-thing"), "7");
  EXPECT_EQ(request.rfind("POST /oauth2/token?x=1 HTTP/1.1\r\n", 0), 0u) << request;
  EXPECT_NE(request.find("Content-Length: 3"), std::string::npos) << request;
}

TEST(HttpClient, PlainHttpOnlyToLoopback) {
  auto res = perform_http(get("http://example.com/x"), {});
  EXPECT_EQ(res.error, "refused_url");
  EXPECT_EQ(perform_http(get("ftp://127.0.0.1/"), {}).error, "refused_url");
  EXPECT_EQ(perform_http(get("not a url"), {}).error, "refused_url");
}

TEST(HttpClient, ASilentServerTimesOutOnTime) {
  listener l; // never accepts: the connection completes in the backlog, no answer comes
  auto started = std::chrono::steady_clock::now();
  auto res = perform_http(get("http://127.0.0.1:" + std::to_string(l.port) + "/", 300), {});
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(res.error, "timeout");
  EXPECT_EQ(res.status, 0);
  EXPECT_LT(took, std::chrono::seconds{2});
}

TEST(HttpClient, RefusedConnectionAndBrokenAnswers) {
  uint16_t closed_port;
  {
    listener l;
    closed_port = l.port;
  }
  EXPECT_EQ(perform_http(get("http://127.0.0.1:" + std::to_string(closed_port) + "/"), {}).error,
            "connect");
  listener l;
  auto t = l.serve_once("this is not HTTP\r\n\r\n");
  EXPECT_EQ(perform_http(get("http://127.0.0.1:" + std::to_string(l.port) + "/"), {}).error, "io");
  t.join();
}

TEST(HttpClient, TlsHandshakeFailureIsNamed) {
  listener l; // speaks plain HTTP where TLS is expected
  auto t = l.serve_once("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", nullptr, false);
  auto res = perform_http(get("https://127.0.0.1:" + std::to_string(l.port) + "/"), {});
  t.join();
  EXPECT_EQ(res.error, "tls");
  EXPECT_EQ(res.status, 0);
}

} // namespace
} // namespace cti::net
