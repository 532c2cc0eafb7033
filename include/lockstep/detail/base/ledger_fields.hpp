// Reading a ledger's rows, naming its tables and writing its values as SQL:
// identifiers and literals always quoted, fields of a foreign or damaged
// ledger read without throwing.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include "lockstep/connection.hpp"
#include "lockstep/error.hpp"

namespace lockstep::detail {

[[nodiscard]] inline std::string quote_ident(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

// A string constant in E'' form, whose meaning does not depend on
// standard_conforming_strings. For rows written as SQL text, so they can
// travel in the same round trip as the migration they record.
[[nodiscard]] inline std::string quote_literal(std::string_view value) {
  std::string out = "E'";
  for (char c : value) {
    if (c == '\\' || c == '\'') out += c;
    out += c;
  }
  out += '\'';
  return out;
}

// A foreign or damaged ledger may hold anything; a value that is not a
// 64-bit integer reads as 0 here and is caught by the plan's checks (version
// must be positive), never thrown.
[[nodiscard]] inline std::int64_t to_int64(const Field& f) noexcept {
  if (!f) return 0;
  std::int64_t v = 0;
  const auto* end = f->data() + f->size();
  const auto [ptr, ec] = std::from_chars(f->data(), end, v);
  return ec == std::errc{} && ptr == end ? v : 0;
}

[[nodiscard]] inline std::string to_text(const Field& f) { return f ? *f : std::string{}; }

// undefined_table / invalid_schema_name: a fresh database, before the first leader.
[[nodiscard]] inline bool no_ledger_yet(const Error& e) { return e.sqlstate == "42P01" || e.sqlstate == "3F000"; }

}  // namespace lockstep::detail
