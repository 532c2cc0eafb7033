// Advisory-lock key derivation. Stable across versions and platforms: the key
// is the first 8 bytes of SHA-256(lock name), read big-endian as a two's
// complement int64 (PostgreSQL's bigint). Changing this would let an old and a
// new binary lead at the same time, so it is frozen and unit-tested.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "lockstep/detail/base/sha256.hpp"

namespace lockstep {

[[nodiscard]] inline std::int64_t lock_key(std::string_view lock_name) noexcept {
  const auto d = detail::Sha256{}.update(lock_name).finish();
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | d[i];
  return static_cast<std::int64_t>(v);
}

[[nodiscard]] inline std::string default_lock_name(std::string_view database, std::string_view ledger_identity) {
  std::string name = "lockstep:";
  name += database;
  name += ':';
  name += ledger_identity;
  return name;
}

}  // namespace lockstep
