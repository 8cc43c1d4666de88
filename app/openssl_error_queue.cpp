// Clears the thread's OpenSSL error queue before every TLS I/O call.
//
// OpenSSL's rule: the calling thread's error queue must be empty before
// SSL_read/SSL_write/SSL_accept/SSL_connect, or SSL_get_error reports a
// stale error from an earlier, unrelated connection. CAF 0.17's
// openssl::session (libcaf_openssl, which we take from Debian and do not
// build) never clears it and never drains it after a failed handshake. All
// cluster links share the middleman's one multiplexer thread, so one peer
// that fails the handshake (a node without our CA, a port scanner sending
// plain text) left its error behind, and the next SSL_read of a healthy link
// that merely had nothing to read was taken for a fatal error: the node cut
// all its good links. (Asio, used by the HTTP frontend, already clears the
// queue itself; for it these wrappers cost one ERR_clear_error.)
//
// The server executable defines these four functions; the dynamic linker
// binds libcaf_openssl's calls to them (an executable's definitions come
// first), and each forwards to libssl's own after clearing the queue. The
// file is part of the executable, not of cti_core, so that nothing else that
// links the core gets libssl's entry points replaced.

#include <dlfcn.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace {

template <class Fn>
Fn next_definition(const char* name) {
  // libssl's versioned symbol first; an unversioned lookup as a fallback.
  void* sym = ::dlvsym(RTLD_NEXT, name, "OPENSSL_3.0.0");
  if (sym == nullptr)
    sym = ::dlsym(RTLD_NEXT, name);
  return reinterpret_cast<Fn>(sym);
}

using read_fn = int (*)(SSL*, void*, int);
using write_fn = int (*)(SSL*, const void*, int);
using handshake_fn = int (*)(SSL*);

} // namespace

extern "C" {

int SSL_read(SSL* ssl, void* buf, int num) {
  static const auto next = next_definition<read_fn>("SSL_read");
  ERR_clear_error();
  return next(ssl, buf, num);
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  static const auto next = next_definition<write_fn>("SSL_write");
  ERR_clear_error();
  return next(ssl, buf, num);
}

int SSL_accept(SSL* ssl) {
  static const auto next = next_definition<handshake_fn>("SSL_accept");
  ERR_clear_error();
  return next(ssl);
}

int SSL_connect(SSL* ssl) {
  static const auto next = next_definition<handshake_fn>("SSL_connect");
  ERR_clear_error();
  return next(ssl);
}

} // extern "C"
