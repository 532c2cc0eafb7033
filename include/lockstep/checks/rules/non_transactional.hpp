// non_transactional: a statement PostgreSQL refuses inside a transaction
// block (CREATE INDEX CONCURRENTLY, VACUUM, ALTER SYSTEM, ...) in a
// migration that runs in one. The text alone decides; an error by default.
#pragma once

#include <string>

#include "lockstep/checks/rule.hpp"
#include "lockstep/checks/words.hpp"
#include "lockstep/sql/reader.hpp"

namespace lockstep::checks::rules::non_transactional {

inline constexpr Rule rule{"non_transactional", Rule::Kind::statement, false,
                           "cannot run inside a transaction block",
                           "put it in its own migration whose first line is `-- lockstep:no-transaction`"};

// REINDEX [(options)] KIND [CONCURRENTLY]: the kind, and whether it runs
// concurrently, read from the option list too (`(CONCURRENTLY)`,
// `(CONCURRENTLY false)`). `r` reads the whole statement.
struct ReindexForm {
  std::string kind;
  bool concurrently = false;
};
inline ReindexForm reindex_form(const sql::Reader& r) {
  ReindexForm f;
  std::size_t i = 1;
  if (r.punct(i, '(')) {
    const auto o = r.options(i);
    f.concurrently = o.on("concurrently");
    i = o.next;
  }
  if (const sql::Token* k = r.at(i); k != nullptr && k->kind == sql::Token::Kind::word) f.kind = sql::detail::upper(k->text);
  f.concurrently = f.concurrently || r.is(i + 1, "concurrently");
  return f;
}

// Why the statement cannot run inside a transaction block, or "".
inline std::string why(const Words& t, const sql::Reader& r, int server_version) {
  using namespace words;
  if (t.empty()) return {};
  const std::string object = created_object(t);
  if (object == "INDEX" && has(t, "CONCURRENTLY")) return "CREATE INDEX CONCURRENTLY";
  if (starts(t, {"DROP", "INDEX", "CONCURRENTLY"})) return "DROP INDEX CONCURRENTLY";
  if (t[0] == "REINDEX" && r.size() == 0) {  // no text: the leading tokens only
    if (has(t, "CONCURRENTLY")) return "REINDEX CONCURRENTLY";
    if (t.size() > 1 && (t[1] == "DATABASE" || t[1] == "SCHEMA" || t[1] == "SYSTEM")) return "REINDEX " + t[1];
  } else if (t[0] == "REINDEX") {
    const auto f = reindex_form(r);
    if (f.concurrently) return "REINDEX CONCURRENTLY";
    if (f.kind == "DATABASE" || f.kind == "SCHEMA" || f.kind == "SYSTEM") return "REINDEX " + f.kind;
  }
  if (t[0] == "ALTER" && has_seq(t, {"DETACH", "PARTITION"}) && has(t, "CONCURRENTLY"))
    return "ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY";
  if (t[0] == "VACUUM") return "VACUUM";
  if (object == "DATABASE" || starts(t, {"DROP", "DATABASE"})) return t[0] + " DATABASE";
  if (object == "TABLESPACE" || starts(t, {"DROP", "TABLESPACE"})) return t[0] + " TABLESPACE";
  if (object == "SUBSCRIPTION" || starts(t, {"DROP", "SUBSCRIPTION"})) return t[0] + " SUBSCRIPTION";
  if (starts(t, {"ALTER", "SYSTEM"})) return "ALTER SYSTEM";
  if (server_version > 0 && server_version < 120000 && starts(t, {"ALTER", "TYPE"}) && has_seq(t, {"ADD", "VALUE"}))
    return "ALTER TYPE ... ADD VALUE (before PostgreSQL 12)";
  return {};
}

inline std::string message(const std::string& why) {
  return why + " cannot run inside a transaction block; put it in its own migration whose first line is "
               "`-- lockstep:no-transaction` (statements there run one by one and must be safe to re-run)";
}

}  // namespace lockstep::checks::rules::non_transactional
