#include "net/tcp_progress.hpp"

// <linux/tcp.h> alone: its struct tcp_info has tcpi_bytes_acked, glibc's
// <netinet/tcp.h> (which it clashes with) does not.
#include <linux/tcp.h>
#include <cstddef>

#include <netinet/in.h>
#include <sys/socket.h>

namespace cti::net {

std::optional<uint64_t> tcp_bytes_acked(int fd) {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0)
    return std::nullopt;
  // An older kernel fills a shorter struct: the field is not there.
  if (len < offsetof(tcp_info, tcpi_bytes_acked) + sizeof info.tcpi_bytes_acked)
    return std::nullopt;
  return info.tcpi_bytes_acked;
}

} // namespace cti::net
