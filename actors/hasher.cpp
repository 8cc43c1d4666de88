#include "actors/hasher.hpp"

#include <caf/all.hpp>

#include "domain/bcrypt.hpp"
#include "domain/log.hpp"

namespace cti {

namespace {

hasher_actor::behavior_type hasher(hasher_actor::pointer, int cost) {
  return {
    [cost](hash_atom, const std::string& key) -> caf::result<std::string> {
      try {
        return bcrypt_hash(key, cost);
      } catch (const std::exception&) {
        log::error("bcrypt hashing failed");
        return make_error(errc::internal, "the key could not be hashed");
      }
    },
    [](verify_atom, const std::string& key, const std::string& hash) {
      return bcrypt_verify(key, hash);
    },
  };
}

} // namespace

hasher_actor spawn_hasher(caf::actor_system& sys, int cost) {
  return sys.spawn<caf::detached>(hasher, cost);
}

} // namespace cti
