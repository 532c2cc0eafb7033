// Error model: one errc enum with a std::error_code category, and an Error
// payload that carries what an operator needs (SQLSTATE, server message,
// migration, file position) while still converting to std::error_code.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "lockstep/detail/base/outcome_shim.hpp"

namespace lockstep {

enum class errc {
  success = 0,
  invalid_argument = 1,   // settings or policy configuration is unusable
  source_invalid,         // migration files: bad name, duplicate, unreadable
  connection_failed,      // cannot reach / authenticate to the server, or the link broke
  ledger_invalid,         // ledger has a wrong shape, unknown or out-of-order versions
  checksum_mismatch,      // an applied migration's file changed
  migration_failed,       // the server rejected a migration; it was rolled back
  lock_failed,            // the lock query itself failed
  deadline_exceeded,      // the run's deadline expired; connection cancelled and closed
  schema_behind,          // the gate: schema older than this binary expects
  database_error,         // any other server error outside a migration
  lock_lost,              // the session lock is not (or no longer) exclusive: a pooler is in between
  internal_error,         // an exception reached lockstep's boundary (a policy threw, out of memory, no threads)
  schema_contracted,      // a contract migration this image does not know was applied: it must not start
  lock_unsafe,            // pre-flight: a migration would block a big live table (checks/rules.hpp); nothing ran
  background_unfinished,  // a migration requires a background job that has not finished, nor could in the boot; nothing of it ran
};

namespace detail {
class ErrorCategory final : public std::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "lockstep"; }
  [[nodiscard]] std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::success: return "success";
      case errc::invalid_argument: return "invalid argument";
      case errc::source_invalid: return "invalid migration source";
      case errc::connection_failed: return "connection failed";
      case errc::ledger_invalid: return "ledger invalid";
      case errc::checksum_mismatch: return "checksum mismatch";
      case errc::migration_failed: return "migration failed";
      case errc::lock_failed: return "lock failed";
      case errc::deadline_exceeded: return "deadline exceeded";
      case errc::schema_behind: return "schema behind";
      case errc::database_error: return "database error";
      case errc::lock_lost: return "lock lost";
      case errc::internal_error: return "internal error";
      case errc::schema_contracted: return "schema contracted";
      case errc::lock_unsafe: return "lock unsafe";
      case errc::background_unfinished: return "background migration unfinished";
    }
    return "unknown lockstep error";
  }
};
}  // namespace detail

[[nodiscard]] inline const std::error_category& error_category() noexcept {
  static const detail::ErrorCategory category;
  return category;
}

[[nodiscard]] inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

// Stable machine-readable name, used in events and exit-code documentation.
[[nodiscard]] constexpr std::string_view to_string(errc e) noexcept {
  switch (e) {
    case errc::success: return "success";
    case errc::invalid_argument: return "invalid_argument";
    case errc::source_invalid: return "source_invalid";
    case errc::connection_failed: return "connection_failed";
    case errc::ledger_invalid: return "ledger_invalid";
    case errc::checksum_mismatch: return "checksum_mismatch";
    case errc::migration_failed: return "migration_failed";
    case errc::lock_failed: return "lock_failed";
    case errc::deadline_exceeded: return "deadline_exceeded";
    case errc::schema_behind: return "schema_behind";
    case errc::database_error: return "database_error";
    case errc::lock_lost: return "lock_lost";
    case errc::internal_error: return "internal_error";
    case errc::schema_contracted: return "schema_contracted";
    case errc::lock_unsafe: return "lock_unsafe";
    case errc::background_unfinished: return "background_unfinished";
  }
  return "unknown";
}

// The rich payload. `message` is a complete sentence that says what happened
// and what to do; the other fields are structured copies for tooling.
struct Error {
  errc code = errc::success;
  std::string message;
  std::string sqlstate;        // five-character SQLSTATE when the server sent one
  std::string server_message;  // primary server message, without severity prefix
  std::string detail;
  std::string hint;
  std::optional<std::int64_t> version;  // migration involved, if any
  std::string migration_name;
  std::string file;                     // file the migration came from, if any
  std::optional<int> line;              // 1-based position in `file`, when known
  std::optional<int> column;

  [[nodiscard]] std::error_code error_code() const noexcept { return make_error_code(code); }

  // One human line (plus DETAIL/HINT lines), like a compiler diagnostic:
  //   migrations/0003_x.sql:4:7: migration_failed [42P01]: relation "x" does not exist
  [[nodiscard]] std::string to_string() const {
    std::string out;
    if (!file.empty()) {
      out += file;
      if (line) {
        out += ':' + std::to_string(*line);
        if (column) out += ':' + std::to_string(*column);
      }
      out += ": ";
    }
    out += lockstep::to_string(code);
    if (!sqlstate.empty()) out += " [" + sqlstate + "]";
    out += ": " + message;
    if (!detail.empty()) out += "\n  detail: " + detail;
    if (!hint.empty()) out += "\n  hint: " + hint;
    return out;
  }
};

// ADL hooks that let Boost.Outcome treat Error as an error code with payload.
[[nodiscard]] inline std::error_code make_error_code(const Error& e) noexcept {
  return e.error_code();
}

[[noreturn]] inline void outcome_throw_as_system_error_with_payload(const Error& e) {
  // Only reached when a caller calls .value() on a failed result, which is their
  // choice; lockstep itself never does.
  throw std::system_error(e.error_code(), e.message);
}

template <class T>
using result = outcome::std_result<T, Error>;

[[nodiscard]] inline Error make_error(errc code, std::string message) {
  Error e;
  e.code = code;
  e.message = std::move(message);
  return e;
}

}  // namespace lockstep

template <>
struct std::is_error_code_enum<lockstep::errc> : std::true_type {};
