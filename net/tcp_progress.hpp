#pragma once

// How far a peer has read what we sent: the kernel's count of bytes the
// peer acknowledged (TCP_INFO tcpi_bytes_acked, Linux 4.1+). A streamed
// answer uses it to tell a slow reader, which keeps acknowledging, from one
// that stopped reading.

#include <cstdint>
#include <optional>

namespace cti::net {

/// Bytes the peer of TCP socket `fd` acknowledged so far; nullopt when the
/// kernel cannot say.
std::optional<uint64_t> tcp_bytes_acked(int fd);

} // namespace cti::net
