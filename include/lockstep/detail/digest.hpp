// The aggregate digest the fast path compares: SHA-256 over
// "<version>:<checksum>\n" for each migration in version order, of the files
// (source_digest) and of the ledger's rows (ledger_digest). Equal digests:
// the applied set and every checksum still match, from one round trip.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
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

// `applied` sorted by version.
[[nodiscard]] inline std::string ledger_digest(const std::vector<std::pair<std::int64_t, std::string>>& applied) {
  if (applied.empty()) return {};
  Sha256 h;
  for (const auto& [version, checksum] : applied) h.update(std::to_string(version)).update(":").update(checksum).update("\n");
  return to_hex(h.finish());
}

}  // namespace lockstep::detail
