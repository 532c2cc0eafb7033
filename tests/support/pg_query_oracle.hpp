// libpg_query as the oracle for statement boundaries (test-only dependency).
#pragma once

#include <pg_query.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace lockstep::test {

struct Boundary {
  std::size_t begin;       // first byte of the statement's first token
  std::size_t terminator;  // its ';', or the input size
  bool operator==(const Boundary&) const = default;
};

struct OracleSplit {
  bool ok = false;
  bool by_parser = false;
  std::vector<Boundary> boundaries;
};

// libpg_query reports where each statement's text starts, including the
// whitespace and comments after the previous ';'; skip those to reach the
// first token, as our splitter reports it.
inline std::size_t skip_trivia(std::string_view s, std::size_t i) {
  for (;;) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' || s[i] == '\f' || s[i] == '\v')) ++i;
    if (i + 1 < s.size() && s[i] == '-' && s[i + 1] == '-') {
      while (i < s.size() && s[i] != '\n' && s[i] != '\r') ++i;
      continue;
    }
    if (i + 1 < s.size() && s[i] == '/' && s[i + 1] == '*') {
      int depth = 0;
      while (i < s.size()) {
        if (i + 1 < s.size() && s[i] == '/' && s[i + 1] == '*') {
          ++depth;
          i += 2;
        } else if (i + 1 < s.size() && s[i] == '*' && s[i + 1] == '/') {
          i += 2;
          if (--depth == 0) break;
        } else {
          ++i;
        }
      }
      continue;
    }
    return i;
  }
}

inline bool has_begin_atomic(std::string_view sql) {
  std::string lower{sql};
  for (auto& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  return lower.find("begin atomic") != std::string::npos;
}

// The parser split is exact; the scanner split is used only where the parser
// fails (deliberate syntax errors) and the scanner is known to be right (it
// cuts BEGIN ATOMIC bodies into pieces).
inline OracleSplit oracle_split(const std::string& sql) {
  OracleSplit out;
  PgQuerySplitResult r = pg_query_split_with_parser(sql.c_str());
  out.by_parser = r.error == nullptr;
  if (r.error != nullptr) {
    pg_query_free_split_result(r);
    if (has_begin_atomic(sql)) return out;
    r = pg_query_split_with_scanner(sql.c_str());
    if (r.error != nullptr) {
      pg_query_free_split_result(r);
      return out;
    }
  }
  for (int i = 0; i < r.n_stmts; ++i) {
    const auto loc = static_cast<std::size_t>(r.stmts[i]->stmt_location);
    const auto len = static_cast<std::size_t>(r.stmts[i]->stmt_len);
    const std::size_t end = len == 0 ? sql.size() : loc + len;
    const std::size_t begin = skip_trivia(sql, loc);
    if (begin >= sql.size() || begin >= end) continue;  // trivia only
    out.boundaries.push_back({begin, end < sql.size() && sql[end] == ';' ? end : sql.size()});
  }
  pg_query_free_split_result(r);
  out.ok = true;
  return out;
}

}  // namespace lockstep::test
