#include "tests/e2e/fake_dialpad.hpp"

#include <cctype>
#include <condition_variable>
#include <list>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <utility>

#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "tests/e2e/webhook_signing.hpp"

namespace cti::test {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using json = nlohmann::json;
using steady = std::chrono::steady_clock;

namespace {

// How long `token_mode::timeout` holds a request before closing it.
constexpr auto hold_time = std::chrono::seconds{30};

std::string lower(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

// '+' is a space, %XX a byte; a malformed escape stays as written.
std::string url_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%' && i + 2 < s.size() && hex_digit(s[i + 1]) >= 0 && hex_digit(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

// "a=1&b=x+y" -> {a: "1", b: "x y"}; a name without '=' gets "".
std::map<std::string, std::string> parse_params(std::string_view s) {
  std::map<std::string, std::string> out;
  while (!s.empty()) {
    auto amp = s.find('&');
    auto piece = s.substr(0, amp);
    s = amp == std::string_view::npos ? std::string_view{} : s.substr(amp + 1);
    if (piece.empty())
      continue;
    auto eq = piece.find('=');
    if (eq == std::string_view::npos)
      out[url_decode(piece)] = "";
    else
      out[url_decode(piece.substr(0, eq))] = url_decode(piece.substr(eq + 1));
  }
  return out;
}

std::string random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1)
    throw std::runtime_error("RAND_bytes failed");
  return hex(raw);
}

// The PKCE S256 transform: base64url-without-padding(SHA-256(verifier)).
std::string s256(const std::string& verifier) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(verifier.data()), verifier.size(), digest);
  return b64url(std::string{reinterpret_cast<const char*>(digest), sizeof digest});
}

std::string to_std(beast::string_view s) { return std::string{s.data(), s.size()}; }

// What the fake answers to one request.
struct answer {
  http::status status = http::status::ok;
  std::string body = "{}";
  std::vector<std::pair<std::string, std::string>> headers;
  bool hold = false; // token_mode::timeout: answer nothing, then close
};

answer json_answer(http::status status, const json& j) {
  answer a;
  a.status = status;
  a.body = j.dump();
  return a;
}

answer error_answer(http::status status, const std::string& error) {
  return json_answer(status, json{{"error", error}});
}

answer held() {
  answer a;
  a.hold = true;
  return a;
}

std::optional<std::string> param(const std::map<std::string, std::string>& m,
                                 const std::string& key) {
  auto it = m.find(key);
  if (it == m.end())
    return std::nullopt;
  return it->second;
}

} // namespace

struct fake_dialpad::impl {
  explicit impl(const fake_dialpad* o) : owner(o) {}

  const fake_dialpad* owner; // for client_id() / client_secret()
  asio::io_context ioc;      // never run: synchronous I/O only
  tcp::acceptor acceptor{ioc};
  int listen_fd = -1;
  uint16_t port = 0;
  std::thread acceptor_thread;

  // Everything below is guarded by `mu`.
  mutable std::mutex mu;
  std::condition_variable cv; // wakes held requests on stop
  bool stopping = false;

  // Configuration.
  std::string redirect_uri;
  int expires_in = 3600;
  std::string scope = "calls:list recordings_export offline_access";
  bool issue_refresh_tokens = true;
  token_mode code_mode = token_mode::ok;
  token_mode refresh_mode = token_mode::ok;
  int64_t company_id = 777001;
  int company_status = 200;
  int screenpop_status = 200;
  std::vector<std::string> call_pages;
  bool call_429_pending = false;

  // OAuth state.
  struct code_grant {
    std::string challenge;
    std::string redirect_uri;
    bool used = false;
  };
  std::map<std::string, code_grant> codes;
  std::map<std::string, steady::time_point> access_tokens; // token -> expiry
  std::string access_token;
  std::string refresh_token;
  uint64_t token_counter = 0;
  uint64_t code_counter = 0;
  int refresh_grants = 0;

  std::vector<fake_request> requests;

  // One accepted connection; its thread owns the socket, `fd` is kept here
  // (until the thread closes it) so the destructor can shut it down.
  struct connection {
    std::thread thread;
    int fd = -1;
    bool done = false;
  };
  std::list<connection> connections;

  void accept_loop();
  void serve(connection* conn, tcp::socket sock);
  fake_request record(const http::request<http::string_body>& req) const;

  // The handlers run with `mu` held.
  answer handle(const fake_request& r);
  answer token(const fake_request& r);
  answer issue_tokens();
  bool bearer_ok(const fake_request& r) const;
  answer calls(const fake_request& r);
};

void fake_dialpad::impl::accept_loop() {
  for (;;) {
    beast::error_code ec;
    tcp::socket sock{ioc};
    acceptor.accept(sock, ec);
    std::unique_lock lk{mu};
    if (stopping)
      break; // `sock` (if any) closes on scope exit
    if (ec) {
      lk.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds{10});
      continue;
    }
    // Reap connections whose thread has finished.
    std::list<connection> finished;
    for (auto it = connections.begin(); it != connections.end();) {
      auto next = std::next(it);
      if (it->done)
        finished.splice(finished.end(), connections, it);
      it = next;
    }
    auto& conn = connections.emplace_back();
    conn.fd = sock.native_handle();
    conn.thread = std::thread(&impl::serve, this, &conn, std::move(sock));
    lk.unlock();
    for (auto& f : finished)
      f.thread.join();
  }
}

void fake_dialpad::impl::serve(connection* conn, tcp::socket sock) {
  beast::flat_buffer buffer;
  beast::error_code ec;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(16 * 1024 * 1024);
    http::read_header(sock, buffer, parser, ec);
    if (ec)
      break;
    if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
      http::response<http::empty_body> cont{http::status::continue_, 11};
      http::write(sock, cont, ec);
      if (ec)
        break;
    }
    if (!parser.is_done())
      http::read(sock, buffer, parser, ec);
    if (ec)
      break;
    auto req = parser.release();
    bool keep_alive = req.keep_alive();

    answer a;
    {
      std::unique_lock lk{mu};
      if (stopping)
        break;
      requests.push_back(record(req));
      a = handle(requests.back());
      if (a.hold) {
        cv.wait_for(lk, hold_time, [this] { return stopping; });
        break;
      }
    }

    http::response<http::string_body> res{a.status, 11};
    res.set(http::field::server, "fake-dialpad");
    res.set(http::field::content_type, "application/json");
    for (const auto& [name, value] : a.headers)
      res.set(name, value);
    res.body() = std::move(a.body);
    res.keep_alive(keep_alive);
    res.prepare_payload();
    http::write(sock, res, ec);
    if (ec || !keep_alive)
      break;
  }
  {
    std::lock_guard lk{mu};
    conn->fd = -1; // from here on only this thread touches the socket
    conn->done = true;
  }
  sock.shutdown(tcp::socket::shutdown_both, ec);
  sock.close(ec);
}

fake_request fake_dialpad::impl::record(const http::request<http::string_body>& req) const {
  fake_request r;
  r.method = to_std(req.method_string());
  std::string target = to_std(req.target());
  auto q = target.find('?');
  r.path = target.substr(0, q);
  if (q != std::string::npos)
    r.query = parse_params(std::string_view{target}.substr(q + 1));
  for (const auto& field : req) {
    auto name = lower(to_std(field.name_string()));
    auto value = to_std(field.value());
    auto [it, inserted] = r.headers.emplace(name, value);
    if (!inserted)
      it->second += ", " + value;
  }
  r.body = req.body();
  if (auto ct = param(r.headers, "content-type")) {
    auto media = lower(ct->substr(0, ct->find(';')));
    while (!media.empty() && (media.back() == ' ' || media.back() == '\t'))
      media.pop_back();
    if (media == "application/x-www-form-urlencoded")
      r.form = parse_params(r.body);
  }
  return r;
}

answer fake_dialpad::impl::handle(const fake_request& r) {
  const bool get = r.method == "GET";
  const bool post = r.method == "POST";
  if (post && r.path == "/oauth2/token")
    return token(r);
  if (post && r.path == "/oauth2/deauthorize")
    return json_answer(http::status::ok, json::object());
  if (get && r.path == "/api/v2/company") {
    if (!bearer_ok(r))
      return error_answer(http::status::unauthorized, "invalid_token");
    if (company_status != 200)
      return error_answer(static_cast<http::status>(company_status), "company_unavailable");
    return json_answer(http::status::ok, json{{"id", company_id}, {"name", "Fake Co"}});
  }
  static constexpr std::string_view users = "/api/v2/users/";
  static constexpr std::string_view screenpop = "/screenpop";
  if (post && r.path.size() > users.size() + screenpop.size() && r.path.starts_with(users) &&
      r.path.ends_with(screenpop) &&
      r.path.find('/', users.size()) == r.path.size() - screenpop.size()) {
    if (!bearer_ok(r))
      return error_answer(http::status::unauthorized, "invalid_token");
    if (screenpop_status == 200)
      return json_answer(http::status::ok, json::object());
    auto status = static_cast<http::status>(screenpop_status);
    if (screenpop_status == 429) {
      auto a = error_answer(status, "rate_limited");
      a.headers.emplace_back("Retry-After", "60");
      return a;
    }
    return error_answer(status, "failed");
  }
  if (get && r.path == "/api/v2/call")
    return calls(r);
  return error_answer(http::status::not_found, "not_found");
}

answer fake_dialpad::impl::token(const fake_request& r) {
  if (param(r.form, "client_id") != owner->client_id() ||
      param(r.form, "client_secret") != owner->client_secret())
    return error_answer(http::status::unauthorized, "invalid_client");
  auto grant_type = param(r.form, "grant_type").value_or("");
  if (grant_type != "authorization_code" && grant_type != "refresh_token")
    return error_answer(http::status::bad_request, "unsupported_grant_type");

  const bool code_grant = grant_type == "authorization_code";
  auto code = code_grant ? codes.find(param(r.form, "code").value_or("")) : codes.end();
  switch (code_grant ? code_mode : refresh_mode) {
  case token_mode::fail_500:
    return error_answer(http::status::internal_server_error, "server_error");
  case token_mode::timeout:
    return held();
  case token_mode::invalid_grant:
    if (code != codes.end())
      code->second.used = true;
    return json_answer(http::status::bad_request,
                       json{{"error", "invalid_grant"}, {"error_description", "refresh token revoked"}});
  case token_mode::ok:
    break;
  }

  if (code_grant) {
    if (code == codes.end() || code->second.used ||
        param(r.form, "redirect_uri") != code->second.redirect_uri)
      return error_answer(http::status::bad_request, "invalid_grant");
    auto verifier = param(r.form, "code_verifier");
    if (!verifier || s256(*verifier) != code->second.challenge)
      return error_answer(http::status::bad_request, "invalid_grant");
    code->second.used = true;
    return issue_tokens();
  }
  auto presented = param(r.form, "refresh_token");
  if (refresh_token.empty() || presented != refresh_token)
    return error_answer(http::status::bad_request, "invalid_grant");
  ++refresh_grants;
  return issue_tokens();
}

answer fake_dialpad::impl::issue_tokens() {
  auto n = std::to_string(++token_counter);
  access_token = "at_" + n + "_" + random_hex(8);
  refresh_token = "rt_" + n + "_" + random_hex(8);
  access_tokens[access_token] = steady::now() + std::chrono::seconds{expires_in};
  json body{{"access_token", access_token},
            {"refresh_token", refresh_token},
            {"expires_in", expires_in},
            {"token_type", "bearer"}};
  if (!issue_refresh_tokens)
    body.erase("refresh_token");
  if (!scope.empty())
    body["scope"] = scope;
  return json_answer(http::status::ok, body);
}

bool fake_dialpad::impl::bearer_ok(const fake_request& r) const {
  auto auth = param(r.headers, "authorization");
  if (!auth || auth->size() <= 7 || lower(auth->substr(0, 7)) != "bearer ")
    return false;
  auto token = auth->substr(7);
  auto first = token.find_first_not_of(" \t");
  auto last = token.find_last_not_of(" \t");
  if (first == std::string::npos)
    return false;
  token = token.substr(first, last - first + 1);
  auto it = access_tokens.find(token);
  return it != access_tokens.end() && steady::now() < it->second;
}

answer fake_dialpad::impl::calls(const fake_request& r) {
  if (!bearer_ok(r))
    return error_answer(http::status::unauthorized, "invalid_token");
  if (call_429_pending) {
    call_429_pending = false;
    auto a = error_answer(http::status::too_many_requests, "rate_limited");
    a.headers.emplace_back("Retry-After", "1");
    return a;
  }
  std::size_t page = 0;
  auto cursor = param(r.query, "cursor").value_or("");
  if (!cursor.empty()) {
    bool valid = cursor.size() >= 2 && cursor.size() <= 10 && cursor[0] == 'p';
    for (std::size_t i = 1; valid && i < cursor.size(); ++i)
      valid = cursor[i] >= '0' && cursor[i] <= '9';
    if (!valid)
      return error_answer(http::status::bad_request, "invalid_cursor");
    page = std::stoul(cursor.substr(1));
  }
  if (call_pages.empty() && page == 0)
    return json_answer(http::status::ok, json{{"items", json::array()}});
  if (page >= call_pages.size())
    return error_answer(http::status::bad_request, "invalid_cursor");
  answer a;
  a.body = "{\"items\": " + call_pages[page];
  if (page + 1 < call_pages.size())
    a.body += ", \"cursor\": \"p" + std::to_string(page + 1) + "\"";
  a.body += "}";
  return a;
}

fake_dialpad::fake_dialpad() : d_(std::make_unique<impl>(this)) {
  tcp::endpoint ep{asio::ip::make_address("127.0.0.1"), 0};
  d_->acceptor.open(ep.protocol());
  d_->acceptor.bind(ep);
  d_->acceptor.listen(asio::socket_base::max_listen_connections);
  d_->port = d_->acceptor.local_endpoint().port();
  d_->listen_fd = d_->acceptor.native_handle();
  d_->acceptor_thread = std::thread([this] { d_->accept_loop(); });
}

fake_dialpad::~fake_dialpad() {
  {
    std::lock_guard lk{d_->mu};
    d_->stopping = true;
    for (auto& conn : d_->connections)
      if (conn.fd >= 0)
        ::shutdown(conn.fd, SHUT_RDWR); // wakes a blocked read or write
  }
  d_->cv.notify_all(); // releases held requests
  // Wake the blocked accept(): shutting the listener down does on Linux; a
  // connection of our own does elsewhere (refused, harmlessly, on Linux).
  ::shutdown(d_->listen_fd, SHUT_RDWR);
  {
    beast::error_code ec;
    tcp::socket wake{d_->ioc};
    wake.connect(tcp::endpoint{asio::ip::make_address("127.0.0.1"), d_->port}, ec);
  }
  if (d_->acceptor_thread.joinable())
    d_->acceptor_thread.join();
  std::list<impl::connection> connections;
  {
    std::lock_guard lk{d_->mu};
    connections.swap(d_->connections);
  }
  for (auto& conn : connections)
    if (conn.thread.joinable())
      conn.thread.join();
  beast::error_code ec;
  d_->acceptor.close(ec);
}

uint16_t fake_dialpad::port() const { return d_->port; }

std::string fake_dialpad::base_url() const {
  return "http://127.0.0.1:" + std::to_string(d_->port);
}

void fake_dialpad::set_redirect_uri(std::string uri) {
  std::lock_guard lk{d_->mu};
  d_->redirect_uri = std::move(uri);
}

void fake_dialpad::set_expires_in(int seconds) {
  std::lock_guard lk{d_->mu};
  d_->expires_in = seconds;
}

void fake_dialpad::set_issue_refresh_tokens(bool issue) {
  std::lock_guard lk{d_->mu};
  d_->issue_refresh_tokens = issue;
}

void fake_dialpad::set_scope(std::string scope) {
  std::lock_guard lk{d_->mu};
  d_->scope = std::move(scope);
}

void fake_dialpad::set_code_mode(token_mode m) {
  std::lock_guard lk{d_->mu};
  d_->code_mode = m;
}

void fake_dialpad::set_refresh_mode(token_mode m) {
  std::lock_guard lk{d_->mu};
  d_->refresh_mode = m;
}

void fake_dialpad::set_company_id(int64_t id) {
  std::lock_guard lk{d_->mu};
  d_->company_id = id;
}

void fake_dialpad::set_company_status(int status) {
  std::lock_guard lk{d_->mu};
  d_->company_status = status;
}

void fake_dialpad::set_screenpop_status(int status) {
  std::lock_guard lk{d_->mu};
  d_->screenpop_status = status;
}

void fake_dialpad::set_call_pages(std::vector<std::string> pages_json_items, bool first_answer_429) {
  std::lock_guard lk{d_->mu};
  d_->call_pages = std::move(pages_json_items);
  d_->call_429_pending = first_answer_429;
}

std::string fake_dialpad::approve(const std::string& authorize_url, std::string* error) {
  auto fail = [error](const std::string& why) {
    if (error)
      *error = why;
    return std::string{};
  };
  std::string_view url{authorize_url};
  url = url.substr(0, url.find('#'));
  auto q = url.find('?');
  auto path = url.substr(0, q);
  if (auto scheme = path.find("://"); scheme != std::string_view::npos) {
    auto slash = path.find('/', scheme + 3);
    path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash);
  }
  auto params = q == std::string_view::npos ? std::map<std::string, std::string>{}
                                            : parse_params(url.substr(q + 1));
  auto non_empty = [&params](const std::string& key) {
    auto v = param(params, key);
    return v && !v->empty();
  };

  if (path != "/oauth2/authorize")
    return fail("path is '" + std::string{path} + "', expected /oauth2/authorize");
  if (param(params, "response_type") != "code")
    return fail("response_type is not 'code'");
  if (param(params, "client_id") != client_id())
    return fail("client_id is not '" + client_id() + "'");
  if (!non_empty("scope"))
    return fail("scope missing");
  if (!non_empty("state"))
    return fail("state missing");
  if (!non_empty("code_challenge"))
    return fail("code_challenge missing");
  if (param(params, "code_challenge_method") != "S256")
    return fail("code_challenge_method is not 'S256'");
  if (!non_empty("redirect_uri"))
    return fail("redirect_uri missing");

  std::lock_guard lk{d_->mu};
  const auto& redirect = params["redirect_uri"];
  if (!d_->redirect_uri.empty() && redirect != d_->redirect_uri)
    return fail("redirect_uri is '" + redirect + "', expected '" + d_->redirect_uri + "'");
  auto code = "code_" + std::to_string(++d_->code_counter) + "_" + random_hex(16);
  d_->codes[code] = impl::code_grant{params["code_challenge"], redirect, false};
  if (error)
    error->clear();
  return code;
}

std::vector<fake_request> fake_dialpad::requests() const {
  std::lock_guard lk{d_->mu};
  return d_->requests;
}

int fake_dialpad::count(const std::string& method, const std::string& path) const {
  std::lock_guard lk{d_->mu};
  int n = 0;
  for (const auto& r : d_->requests)
    if (r.method == method && r.path == path)
      ++n;
  return n;
}

std::string fake_dialpad::current_access_token() const {
  std::lock_guard lk{d_->mu};
  return d_->access_token;
}

std::string fake_dialpad::current_refresh_token() const {
  std::lock_guard lk{d_->mu};
  return d_->refresh_token;
}

int fake_dialpad::refresh_grants() const {
  std::lock_guard lk{d_->mu};
  return d_->refresh_grants;
}

bool fake_dialpad::wait_until(const std::function<bool()>& pred,
                              std::chrono::milliseconds deadline) {
  auto end = steady::now() + deadline;
  for (;;) {
    bool value = pred();
    if (value || steady::now() >= end)
      return value;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
}

} // namespace cti::test
