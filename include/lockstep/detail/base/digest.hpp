// The digest the fast path compares, of the files (source_digest) and of the
// ledger's rows (ledger_digest): a SHA-256 chain over the migrations in
// version order, d0 = "" and d(i) = hex(sha256(d(i-1) + "<version>:<checksum>\n")).
// Equal digests: the applied set and every checksum still match, from one
// round trip. A chain rather than one hash over everything so that the
// ledger's head (ledger_head.hpp) extends it by one row per migration on the
// server: a hash over all rows cost each ledger insert a pass over the whole
// ledger (+20% on applying 1000 migrations).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lockstep/detail/base/sha256.hpp"
#include "lockstep/migration.hpp"

namespace lockstep::detail {

[[nodiscard]] inline std::string digest_step(const std::string& previous, std::int64_t version,
                                             const std::string& checksum) {
  Sha256 h;
  h.update(previous).update(std::to_string(version)).update(":").update(checksum).update("\n");
  return to_hex(h.finish());
}

// The source's chain, every prefix at once, so the every-boot check is one
// lookup: load() builds it while the first connection attempt is under way
// (hashing 200 migrations costs ~0.4 ms, 1000 ~1.7 ms, which the fast path
// used to pay after the query, on the critical path).
class DigestChain {
 public:
  DigestChain() = default;
  // `migrations` sorted by version.
  explicit DigestChain(const std::vector<Migration>& migrations) {
    versions_.reserve(migrations.size());
    digests_.reserve(migrations.size());
    std::string d;
    for (const auto& m : migrations) {
      d = digest_step(d, m.version, m.checksum);
      versions_.push_back(m.version);
      digests_.push_back(d);
    }
    // A ledger written before checksums were canonical holds the raw bytes'
    // checksums: for files with CRLF or a BOM, the chain over those. Built
    // only when a file has one (no cost for LF files), so such a ledger
    // still boots on the fast path while its files are the bytes it applied.
    // A ledger that mixes both forms (older rows raw, newer canonical) or
    // whose files changed line endings since takes the full read, which
    // accepts either per row (plan(), checksum_matches).
    const bool any_legacy = std::any_of(migrations.begin(), migrations.end(),
                                        [](const Migration& m) { return !m.legacy_checksum.empty(); });
    if (!any_legacy) return;
    legacy_digests_.reserve(migrations.size());
    d.clear();
    for (const auto& m : migrations) {
      d = digest_step(d, m.version, m.legacy_checksum.empty() ? m.checksum : m.legacy_checksum);
      legacy_digests_.push_back(d);
    }
  }

  // The digest of the migrations with version <= up_to ("" for none).
  [[nodiscard]] std::string_view up_to(std::int64_t version) const noexcept { return at(digests_, version); }

  // Whether `digest` is the digest of the migrations with version <= up_to,
  // with their canonical checksums or with the raw bytes' ones.
  [[nodiscard]] bool matches(std::int64_t version, std::string_view digest) const noexcept {
    return digest == up_to(version) || (!legacy_digests_.empty() && digest == at(legacy_digests_, version));
  }

  // How many of the migrations have version <= up_to.
  [[nodiscard]] std::int64_t count_up_to(std::int64_t version) const noexcept {
    return static_cast<std::int64_t>(std::upper_bound(versions_.begin(), versions_.end(), version) -
                                     versions_.begin());
  }

  [[nodiscard]] bool has(std::int64_t version) const noexcept {
    return std::binary_search(versions_.begin(), versions_.end(), version);
  }

 private:
  [[nodiscard]] std::string_view at(const std::vector<std::string>& digests, std::int64_t version) const noexcept {
    const auto it = std::upper_bound(versions_.begin(), versions_.end(), version);
    if (it == versions_.begin()) return {};
    return digests[static_cast<std::size_t>(it - versions_.begin()) - 1];
  }

  std::vector<std::int64_t> versions_;
  std::vector<std::string> digests_;
  std::vector<std::string> legacy_digests_;  // empty: no file has a legacy checksum
};

// `applied` sorted by version.
[[nodiscard]] inline std::string ledger_digest(const std::vector<std::pair<std::int64_t, std::string>>& applied) {
  std::string d;
  for (const auto& [version, checksum] : applied) d = digest_step(d, version, checksum);
  return d;
}

}  // namespace lockstep::detail
