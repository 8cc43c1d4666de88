#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <sys/types.h>

namespace cti::test {

/// One HTTP answer, headers keyed by lowercase name.
struct http_reply {
  int status = 0;
  std::map<std::string, std::string> headers;
  std::string body;
  std::string error; ///< Set when no answer could be read.
};

/// Sends one request on a fresh connection and reads the answer (blocking:
/// the test thread owns it).
http_reply http_request(uint16_t port, const std::string& method, const std::string& target,
                        const std::map<std::string, std::string>& headers = {},
                        const std::string& body = {});

/// A raw TCP connection for tests that need byte-level control.
class raw_connection {
public:
  explicit raw_connection(uint16_t port);
  ~raw_connection();
  raw_connection(const raw_connection&) = delete;
  raw_connection& operator=(const raw_connection&) = delete;

  /// Writes all of `bytes`; false on failure.
  bool write(const std::string& bytes);
  /// Reads one complete HTTP response (headers + Content-Length body; no
  /// body when `to_head`, the answer to a HEAD request).
  http_reply read_response(std::chrono::milliseconds deadline, bool to_head = false);
  /// True when the peer closed the connection within `deadline`.
  bool closed_by_peer(std::chrono::milliseconds deadline);
  /// Every byte not read yet, up to the peer's close (empty when it did not
  /// close within `deadline`).
  std::string read_until_closed(std::chrono::milliseconds deadline);
  /// Every byte not read yet, after waiting up to `wait` for more to come
  /// when there is none (empty when none came, or the peer closed).
  std::string read_available(std::chrono::milliseconds wait);

private:
  int fd_ = -1;
  std::string pending_;
};

/// The built cti-server binary, run as a child process.
class server_process {
public:
  /// Prepares a run with the test database, a free port, and `env` on top.
  explicit server_process(std::map<std::string, std::string> env = {});
  ~server_process();

  /// Starts the binary and waits until `GET /` answers (or the deadline).
  bool start(std::chrono::milliseconds deadline = std::chrono::milliseconds{20000});

  /// Sends `sig` and waits for exit; returns the exit code, 128+signal when
  /// killed by a signal, or -1 when it did not exit in time (then SIGKILL).
  int stop(int sig, std::chrono::milliseconds deadline = std::chrono::milliseconds{15000});

  /// Sends `sig` without waiting.
  void signal(int sig);

  /// Waits for exit like `stop`, without sending anything (a process that
  /// exited during `start` answers its exit code at once).
  int wait_exit(std::chrono::milliseconds deadline);

  /// Everything the server wrote to stdout and stderr so far.
  std::string output() const;

  uint16_t port() const { return port_; }

private:
  bool start_once(std::chrono::milliseconds deadline);
  std::map<std::string, std::string> env_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
  int exit_code_ = -1; ///< Of a process that already exited (during start-up).
  std::string log_path_;
};

/// Runs the binary with `args` and `env` (on top of a minimal environment),
/// waits for it, and returns {exit code, combined output}.
std::pair<int, std::string> run_binary(const std::vector<std::string>& args,
                                       const std::map<std::string, std::string>& env);

/// A free TCP port on 127.0.0.1.
uint16_t free_port();

/// Runs `command` through the shell; {exit status, combined output}.
std::pair<int, std::string> shell(const std::string& command);

} // namespace cti::test
