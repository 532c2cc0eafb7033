// Reading a ledger's rows, naming its tables and writing its values as SQL:
// identifiers and literals always quoted, fields of a foreign or damaged
// ledger read without throwing.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
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

// `sql`, run where this role may and skipped where it may not (42501: not
// the owner), as one DO block. Its dollar-quote tag is one that `sql` does
// not contain (a ledger may be named anything, "$lockstep_head$" included).
[[nodiscard]] inline std::string unless_insufficient_privilege(std::string_view sql, std::string tag) {
  const std::string body = "BEGIN EXECUTE " + quote_literal(sql) +
                           "; EXCEPTION WHEN insufficient_privilege THEN NULL; END";
  while (body.find("$" + tag + "$") != std::string::npos) tag += "_";
  return "DO $" + tag + "$ " + body + " $" + tag + "$";
}

// "file:line[:column]", as a failure log's position text -> line, column.
// For rows that have no numbers of their own: written by an older release,
// or to a ledger without the position columns (TableLedger::positions_sql).
inline void read_position(std::string_view position, std::optional<int>& line, std::optional<int>& column) {
  auto number_after = [](std::string_view s, std::size_t colon) -> std::optional<int> {
    if (colon == std::string_view::npos || colon + 1 >= s.size()) return std::nullopt;
    int n = 0;
    for (char c : s.substr(colon + 1)) {
      if (c < '0' || c > '9' || n > 100000000) return std::nullopt;
      n = n * 10 + (c - '0');
    }
    return n;
  };
  const auto last = position.rfind(':');
  const auto last_n = number_after(position, last);
  if (!last_n) return;
  const auto before = position.substr(0, last);
  if (const auto n = number_after(before, before.rfind(':'))) {
    line = *n;
    column = *last_n;
  } else {
    line = *last_n;
  }
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
