// A migration's checksum: SHA-256 of its canonical text, so that a checkout
// that turns LF into CRLF (git on Windows) or an editor that adds a UTF-8
// byte-order mark does not make every applied file look edited (every
// replica refusing to start, openai/codex#38528). Every place that computes a
// migration's checksum calls migration_checksum(); every place that compares
// a recorded checksum (ledger row, failure, background job) with a file's
// calls checksum_matches(), which also accepts the raw-bytes checksums that
// lockstep recorded before (docs/operations.md, "Checksums").
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "lockstep/detail/base/sha256.hpp"
#include "lockstep/migration.hpp"

namespace lockstep {

inline constexpr std::string_view utf8_bom = "\xEF\xBB\xBF";

// The text a checksum is taken over: a leading UTF-8 byte-order mark
// removed, CRLF and a lone CR turned into LF. Nothing else changes (a BOM
// further in, trailing spaces, a missing final newline all count).
[[nodiscard]] inline std::string canonical_text(std::string_view raw) {
  if (raw.substr(0, utf8_bom.size()) == utf8_bom) raw.remove_prefix(utf8_bom.size());
  std::string out;
  out.reserve(raw.size());
  // Whole runs between CRs at once: a large file is mostly such runs.
  for (std::size_t from = 0; from < raw.size();) {
    const std::size_t cr = raw.find('\r', from);
    if (cr == std::string_view::npos) {
      out.append(raw.substr(from));
      break;
    }
    out.append(raw.substr(from, cr - from)).push_back('\n');
    from = cr + 1 < raw.size() && raw[cr + 1] == '\n' ? cr + 2 : cr + 1;
  }
  return out;
}

// A file with no BOM and no CR is its own canonical text: hashed in place.
[[nodiscard]] inline bool is_canonical(std::string_view raw) noexcept {
  return raw.substr(0, utf8_bom.size()) != utf8_bom && raw.find('\r') == std::string_view::npos;
}

// SHA-256 of canonical_text(raw), lowercase hex: what the ledger records.
[[nodiscard]] inline std::string migration_checksum(std::string_view raw) {
  return is_canonical(raw) ? detail::sha256_hex(raw) : detail::sha256_hex(canonical_text(raw));
}

// What lockstep recorded before checksums were canonical (SHA-256 of the raw
// bytes), or "" when that is the same as migration_checksum(raw).
[[nodiscard]] inline std::string legacy_checksum(std::string_view raw) {
  return is_canonical(raw) ? std::string{} : detail::sha256_hex(raw);
}

}  // namespace lockstep

namespace lockstep::detail {

// `canonical` with every LF spelled `eol`, after `prefix`.
[[nodiscard]] inline std::string respelled(std::string_view canonical, std::string_view prefix,
                                           std::string_view eol) {
  std::string out{prefix};
  out.reserve(canonical.size() * 2 + prefix.size());
  for (const char c : canonical) {
    if (c == '\n') {
      out += eol;
    } else {
      out += c;
    }
  }
  return out;
}

// Whether a recorded checksum (a ledger row, a failure, a background job)
// is the checksum of `m`'s file: its canonical checksum, its raw bytes'
// (Migration::legacy_checksum), or the raw bytes of the same text with other
// line endings or a BOM, as lockstep recorded before checksums were
// canonical (a row written from a CRLF checkout whose file is now LF). Each
// of these has the same canonical text as the file, so an edit is never
// accepted. The spellings are hashed only when the first two comparisons
// fail: never on an ordinary boot.
[[nodiscard]] inline bool checksum_matches(const Migration& m, std::string_view recorded) {
  if (recorded == m.checksum) return true;
  if (!m.legacy_checksum.empty() && recorded == m.legacy_checksum) return true;
  if (recorded.size() != 64) return false;  // not a SHA-256 in hex: no spelling can give it
  const std::string canonical = canonical_text(m.sql);
  if (sha256_hex(canonical) != m.checksum) return false;  // a checksum of the Source's own making
  static constexpr std::array<std::string_view, 2> prefixes{"", utf8_bom};
  static constexpr std::array<std::string_view, 3> endings{"\n", "\r\n", "\r"};
  for (const auto prefix : prefixes) {
    for (const auto eol : endings) {
      if (prefix.empty() && eol == "\n") continue;  // the canonical text itself
      if (sha256_hex(respelled(canonical, prefix, eol)) == recorded) return true;
    }
  }
  return false;
}

}  // namespace lockstep::detail
