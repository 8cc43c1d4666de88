#include "tests/e2e/server_process.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "domain/secure_random.hpp"

extern char** environ;

namespace cti::test {

namespace {

int connect_to(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

/// Parses one response out of `buf` if complete; returns bytes used or 0.
std::size_t parse_response(const std::string& buf, http_reply& out, bool to_head) {
  auto end = buf.find("\r\n\r\n");
  if (end == std::string::npos)
    return 0;
  std::istringstream head{buf.substr(0, end)};
  std::string line;
  std::getline(head, line);
  if (line.size() < 12)
    return 0;
  out.status = std::atoi(line.c_str() + 9);
  out.headers.clear();
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    auto colon = line.find(':');
    if (colon == std::string::npos)
      continue;
    auto value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ')
      value.erase(0, 1);
    out.headers[lower(line.substr(0, colon))] = value;
  }
  if (auto te = out.headers.find("transfer-encoding");
      te != out.headers.end() && te->second == "chunked" && !to_head) {
    // Chunked: sizes in hex, each chunk followed by CRLF, a 0 chunk last.
    std::size_t pos = end + 4;
    std::string body;
    for (;;) {
      auto line_end = buf.find("\r\n", pos);
      if (line_end == std::string::npos)
        return 0;
      auto size = std::strtoul(buf.substr(pos, line_end - pos).c_str(), nullptr, 16);
      pos = line_end + 2;
      if (size == 0) {
        if (buf.size() < pos + 2)
          return 0;
        out.body = std::move(body);
        return pos + 2;
      }
      if (buf.size() < pos + size + 2)
        return 0;
      body += buf.substr(pos, size);
      pos += size + 2;
    }
  }
  std::size_t len = 0;
  if (auto it = out.headers.find("content-length"); it != out.headers.end() && !to_head)
    len = std::strtoul(it->second.c_str(), nullptr, 10);
  if (buf.size() < end + 4 + len)
    return 0;
  out.body = buf.substr(end + 4, len);
  return end + 4 + len;
}


} // namespace

uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  // Any address, as the server binds: a port free on the loopback address
  // alone may be held on another (the WebSocket benchmark's clients bind
  // 127.0.0.2 and up), and the server's bind then fails.
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// -- raw_connection -------------------------------------------------------------

raw_connection::raw_connection(uint16_t port) : fd_(connect_to(port)) {
}

raw_connection::~raw_connection() {
  if (fd_ >= 0)
    ::close(fd_);
}

bool raw_connection::write(const std::string& bytes) {
  if (fd_ < 0)
    return false;
  std::size_t done = 0;
  while (done < bytes.size()) {
    auto n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n <= 0)
      return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

http_reply raw_connection::read_response(std::chrono::milliseconds deadline, bool to_head) {
  http_reply out;
  auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    if (auto used = parse_response(pending_, out, to_head); used > 0) {
      pending_.erase(0, used);
      return out;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      until - std::chrono::steady_clock::now()).count();
    if (left <= 0 || fd_ < 0) {
      out.error = "timed out waiting for a response";
      return out;
    }
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0)
      continue;
    char buf[65536];
    auto n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      out.error = "connection closed before a complete response";
      return out;
    }
    pending_.append(buf, static_cast<std::size_t>(n));
  }
}

bool raw_connection::closed_by_peer(std::chrono::milliseconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      until - std::chrono::steady_clock::now()).count();
    if (left <= 0)
      return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0)
      continue;
    char buf[4096];
    auto n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0)
      return true;
    pending_.append(buf, static_cast<std::size_t>(n));
  }
}

std::string raw_connection::read_available(std::chrono::milliseconds wait) {
  if (pending_.empty() && fd_ >= 0) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) > 0) {
      char buf[4096];
      auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0)
        pending_.append(buf, static_cast<std::size_t>(n));
    }
  }
  return std::exchange(pending_, {});
}

std::string raw_connection::read_until_closed(std::chrono::milliseconds deadline) {
  if (!closed_by_peer(deadline))
    return {};
  return std::exchange(pending_, {});
}

http_reply http_request(uint16_t port, const std::string& method, const std::string& target,
                        const std::map<std::string, std::string>& headers,
                        const std::string& body) {
  raw_connection conn{port};
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (const auto& [k, v] : headers)
    req += k + ": " + v + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH")
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  if (!conn.write(req)) {
    http_reply r;
    r.error = "cannot send the request";
    return r;
  }
  return conn.read_response(std::chrono::seconds{10});
}

// -- server_process -------------------------------------------------------------

server_process::server_process(std::map<std::string, std::string> env) : env_(std::move(env)) {
  port_ = free_port();
  const char* db = std::getenv("CTI_TEST_DATABASE_URL");
  if (db == nullptr || *db == '\0')
    ADD_FAILURE() << "CTI_TEST_DATABASE_URL is not set: run the tests through scripts/test.sh";
  // As in production: the server connects as a role that owns nothing
  // (row-level security binds it) and migrates as the tables' owner.
  const char* server_db = std::getenv("CTI_TEST_SERVER_DATABASE_URL");
  if (server_db != nullptr && *server_db != '\0') {
    env_.emplace("DATABASE_URL", server_db);
    env_.emplace("MIGRATION_DATABASE_URL", db ? db : "");
  }
  env_.emplace("DATABASE_URL", db ? db : "");
  env_.emplace("PORT", std::to_string(port_));
  env_.emplace("CTI_ENV", "production");
  env_.emplace("INTERNAL_API_SECRET", "e2e-internal-secret-0123456789");
  env_.emplace("DIALPAD_WEBHOOK_SECRET", "e2e-webhook-secret");
  env_.emplace("DATABASE_ENCRYPTION_KEY", std::string(64, 'a'));
  env_.emplace("LOG_FORMAT", "json");
  env_.emplace("NODE_NAME", "e2e-node");
  log_path_ = "/tmp/cti-e2e-" + random_hex(6) + ".log";
}

server_process::~server_process() {
  if (pid_ > 0)
    stop(SIGKILL, std::chrono::seconds{5});
  std::remove(log_path_.c_str());
}

bool server_process::start(std::chrono::milliseconds deadline) {
  // free_port() releases the port it found before the server binds it; in
  // between, an outgoing connection (the server's own, to PostgreSQL) may
  // take it as its ephemeral port. Then the server stops at once with
  // "Address already in use": start again on another port.
  for (int attempt = 0;; ++attempt) {
    if (start_once(deadline))
      return true;
    bool port_taken = pid_ <= 0 && output().find("Address already in use") != std::string::npos
                      && output().find("cannot start the HTTP server") != std::string::npos;
    auto it = env_.find("PORT");
    if (!port_taken || attempt >= 3 || it == env_.end() || it->second != std::to_string(port_))
      return false;
    port_ = free_port();
    it->second = std::to_string(port_);
  }
}

bool server_process::start_once(std::chrono::milliseconds deadline) {
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env_)
    env_strings.push_back(k + "=" + v);
  // PATH and HOME are all the child inherits (and the sanitizers' options,
  // for a sanitized build); everything else is explicit.
  for (const char* keep : {"PATH", "HOME", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"})
    if (const char* v = std::getenv(keep); v && env_.count(keep) == 0)
      env_strings.push_back(std::string{keep} + "=" + v);
  pid_ = ::fork();
  if (pid_ == 0) {
    int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<char*> envp;
    for (auto& s : env_strings)
      envp.push_back(s.data());
    envp.push_back(nullptr);
    char* argv[] = {const_cast<char*>(CTI_SERVER_BINARY), nullptr};
    ::execve(CTI_SERVER_BINARY, argv, envp.data());
    std::_Exit(127);
  }
  auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return false; // exited during start-up (wait_exit answers its code)
    }
    if (http_request(port_, "GET", "/").status == 200)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds{25});
  }
  return false;
}

void server_process::signal(int sig) {
  if (pid_ > 0)
    ::kill(pid_, sig);
}

int server_process::wait_exit(std::chrono::milliseconds deadline) {
  if (pid_ <= 0)
    return exit_code_;
  auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      if (WIFEXITED(status))
        return WEXITSTATUS(status);
      return 128 + WTERMSIG(status);
    }
    if (std::chrono::steady_clock::now() >= until) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
}

int server_process::stop(int sig, std::chrono::milliseconds deadline) {
  signal(sig);
  return wait_exit(deadline);
}

std::string server_process::output() const {
  std::ifstream in{log_path_};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::pair<int, std::string> run_binary(const std::vector<std::string>& args,
                                       const std::map<std::string, std::string>& env) {
  auto out_path = "/tmp/cti-e2e-run-" + random_hex(6) + ".log";
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::vector<std::string> env_strings;
    for (const auto& [k, v] : env)
      env_strings.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& s : env_strings)
      envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> all{CTI_SERVER_BINARY};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execve(CTI_SERVER_BINARY, argv.data(), envp.data());
    std::_Exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  std::ifstream in{out_path};
  std::stringstream ss;
  ss << in.rdbuf();
  std::remove(out_path.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), ss.str()};
}

std::pair<int, std::string> shell(const std::string& command) {
  std::string out;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr)
    return {-1, out};
  char buf[4096];
  while (auto n = std::fread(buf, 1, sizeof buf, p))
    out.append(buf, n);
  int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

} // namespace cti::test
