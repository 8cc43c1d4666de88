#include "tests/e2e/ws_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

namespace cti::test {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace asio = boost::asio;

struct ws_client::impl {
  asio::io_context ioc;
  websocket::stream<beast::tcp_stream> ws{ioc};
  beast::flat_buffer buffer;
  bool open = false;
  int status = 0;
  std::string refusal;
  std::map<std::string, std::string> headers; ///< Of the handshake answer.
  // A read in flight across read() calls (never cancelled: Beast streams do
  // not survive a cancelled read).
  bool reading = false;
  bool done = false;
  beast::error_code read_ec;
  std::optional<uint16_t> close;
  std::string reason;
};

ws_client::ws_client(uint16_t port, const std::string& target,
                     const std::map<std::string, std::string>& headers)
  : d_(std::make_unique<impl>()) {
  beast::error_code ec;
  asio::ip::tcp::endpoint ep{asio::ip::make_address("127.0.0.1"), port};
  beast::get_lowest_layer(d_->ws).connect(ep, ec);
  if (ec)
    return;
  d_->ws.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
    for (const auto& [k, v] : headers)
      req.set(k, v);
  }));
  websocket::response_type res;
  d_->ws.handshake(res, "127.0.0.1", target, ec);
  d_->status = static_cast<int>(res.result_int());
  for (const auto& f : res)
    d_->headers[std::string{f.name_string()}] = std::string{f.value()};
  if (ec) {
    d_->refusal = res.body();
    return;
  }
  d_->open = true;
}

ws_client::~ws_client() {
  if (d_->open && !d_->close) {
    beast::error_code ec;
    beast::get_lowest_layer(d_->ws).socket().close(ec);
  }
}

void ws_client::disconnect() {
  beast::error_code ec;
  beast::get_lowest_layer(d_->ws).socket().close(ec);
}

bool ws_client::open() const { return d_->open; }
int ws_client::status() const { return d_->status; }
const std::string& ws_client::refusal_body() const { return d_->refusal; }
std::string ws_client::response_header(const std::string& name) const {
  for (const auto& [k, v] : d_->headers)
    if (beast::iequals(k, name))
      return v;
  return {};
}

std::optional<std::string> ws_client::read(std::chrono::milliseconds timeout) {
  if (!d_->open || d_->close)
    return std::nullopt;
  if (!d_->reading) {
    d_->reading = true;
    d_->done = false;
    d_->ws.async_read(d_->buffer, [this](beast::error_code ec, std::size_t) {
      d_->done = true;
      d_->read_ec = ec;
    });
  }
  d_->ioc.restart();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!d_->done && std::chrono::steady_clock::now() < deadline)
    d_->ioc.run_one_for(deadline - std::chrono::steady_clock::now());
  if (!d_->done)
    return std::nullopt;
  d_->reading = false;
  if (d_->read_ec) {
    auto cr = d_->ws.reason();
    d_->close = static_cast<uint16_t>(cr.code);
    d_->reason = std::string{cr.reason.data(), cr.reason.size()};
    if (d_->read_ec != websocket::error::closed && d_->close == 0)
      d_->close = 1006; // abnormal: no close frame
    return std::nullopt;
  }
  auto text = beast::buffers_to_string(d_->buffer.data());
  d_->buffer.consume(d_->buffer.size());
  return text;
}

bool ws_client::send(const std::string& data, bool binary) {
  if (!d_->open)
    return false;
  beast::error_code ec;
  d_->ws.binary(binary);
  d_->ws.write(asio::buffer(data), ec);
  return !ec;
}

std::optional<uint16_t> ws_client::close_code() const { return d_->close; }
std::string ws_client::close_reason() const { return d_->reason; }

} // namespace cti::test
