// The aggregate digest the fast path compares: SHA-256 over
// "<version>:<checksum>\n" for each migration in version order. A ledger
// computes the same on the server (sha256() exists since PostgreSQL 11), so
// one round trip tells whether the applied set and every checksum still match.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lockstep/detail/sha256.hpp"
#include "lockstep/migration.hpp"

namespace lockstep::detail {

// `migrations` sorted by version; only versions <= up_to are included.
[[nodiscard]] inline std::string source_digest(const std::vector<Migration>& migrations, std::int64_t up_to) {
  Sha256 h;
  bool any = false;
  for (const auto& m : migrations) {
    if (m.version > up_to) break;
    h.update(std::to_string(m.version)).update(":").update(m.checksum).update("\n");
    any = true;
  }
  return any ? to_hex(h.finish()) : std::string{};
}

}  // namespace lockstep::detail
