// The lockstep program's exit codes: one per error class, stable and documented
// (README "Exit codes", examples/cli/README.md), so a deploy pipeline can branch on them.
#pragma once

#include "lockstep/error.hpp"

namespace lockstep::cli {

inline constexpr int exit_ok = 0;
inline constexpr int exit_usage = 2;

[[nodiscard]] constexpr int exit_code(errc e) noexcept {
  switch (e) {
    case errc::success: return exit_ok;
    case errc::invalid_argument: return 3;
    case errc::source_invalid: return 4;
    case errc::connection_failed: return 5;
    case errc::ledger_invalid: return 6;
    case errc::checksum_mismatch: return 7;
    case errc::migration_failed: return 8;
    case errc::lock_failed: return 9;
    case errc::deadline_exceeded: return 10;
    case errc::schema_behind: return 11;
    case errc::database_error: return 12;
    case errc::lock_lost: return 13;
    case errc::internal_error: return 14;
    case errc::schema_contracted: return 15;
    case errc::lock_unsafe: return 16;
    case errc::background_unfinished: return 17;
  }
  return 1;
}

}  // namespace lockstep::cli
