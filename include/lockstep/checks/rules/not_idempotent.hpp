// not_idempotent: in a `-- lockstep:no-transaction` migration, which a retry
// re-runs from its first statement, a statement that fails or misbehaves
// when run twice (CREATE without IF NOT EXISTS, DROP without IF EXISTS,
// RENAME, ADD CONSTRAINT, ...). The text alone decides; a warning by default.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "lockstep/checks/rule.hpp"
#include "lockstep/checks/words.hpp"
#include "lockstep/sql/reader.hpp"

namespace lockstep::checks::rules::not_idempotent {

inline constexpr Rule rule{"not_idempotent", Rule::Kind::statement, false,
                           "fails or misbehaves when a retry runs it again",
                           "IF [NOT] EXISTS, OR REPLACE, or a DO block that checks the catalog first"};

// ALTER TABLE's actions that fail (or repeat themselves) when a re-run finds
// them done: `r` reads the whole statement, every action at depth 0.
inline std::string alter_table_rerun(const sql::Reader& r) {
  std::size_t i = r.skip_if_exists(2);
  const bool if_exists = i != 2;
  if (r.is(i, "only")) ++i;
  const auto table = r.name(i);
  if (r.is(table.next, "rename")) {
    if (r.is(table.next + 1, "to")) {
      return if_exists ? std::string{} : "ALTER TABLE ... RENAME TO without IF EXISTS fails when re-run (the old "
                                         "name is gone); write ALTER TABLE IF EXISTS old RENAME TO new";
    }
    return "RENAME of a column or constraint fails when re-run (the old name is gone); check the catalog first in "
           "a DO block";
  }
  if (r.is(table.next, "set") && r.is(table.next + 1, "schema") && !if_exists)
    return "ALTER TABLE ... SET SCHEMA without IF EXISTS fails when re-run (the table has moved)";
  std::vector<std::string> dropped;  // DROP CONSTRAINT IF EXISTS c earlier in the statement: ADD c re-runs
  for (std::size_t a = table.next; a < r.size();) {
    const std::size_t end = r.find(a, r.size(), [](const sql::Token& tk, std::size_t) { return tk.is_punct(','); });
    if (r.is(a, "drop") && r.is(a + 1, "constraint") && r.skip_if_exists(a + 2) != a + 2)
      dropped.push_back(r.name(a + 4).folded);
    if (r.is(a, "add")) {
      const std::size_t k = a + 1;
      if (r.is(k, "constraint") &&
          std::find(dropped.begin(), dropped.end(), r.name(k + 1).folded) != dropped.end()) {
        // dropped first in the same statement: re-runnable
      } else if (r.is(k, "constraint") || r.is(k, "check") || r.is(k, "foreign") || r.is(k, "unique") ||
          r.is(k, "primary") || r.is(k, "exclude")) {
        return "ADD CONSTRAINT fails when re-run (the constraint exists; unnamed, a second copy is added); put "
               "DROP CONSTRAINT IF EXISTS c before ADD CONSTRAINT c in the same ALTER TABLE";
      } else if (r.skip_if_exists(r.is(k, "column") ? k + 1 : k) == (r.is(k, "column") ? k + 1 : k)) {
        return "ADD COLUMN without IF NOT EXISTS fails when re-run";
      }
    } else if (r.is(a, "drop") && !r.is(a + 1, "default") && !r.is(a + 1, "not") && !r.is(a + 1, "expression") &&
               !r.is(a + 1, "identity")) {
      const std::size_t k = r.is(a + 1, "column") || r.is(a + 1, "constraint") ? a + 2 : a + 1;
      if (r.skip_if_exists(k) == k) {
        return std::string{r.is(a + 1, "constraint") ? "DROP CONSTRAINT" : "DROP COLUMN"} +
               " without IF EXISTS fails when re-run";
      }
    } else if (r.is(a, "detach") || r.is(a, "attach")) {
      return sql::detail::upper(r.at(a)->text) + " PARTITION fails when re-run (it is done already); put it in a "
             "migration of its own, so that nothing after it can fail and run it again";
    }
    a = end + 1;
  }
  return {};
}

// Why running the statement twice is unsafe, or "". `r` reads the whole
// statement when the file's text is at hand (it is empty otherwise, and only
// the leading tokens `t` are read).
inline std::string why(const Words& t, const sql::Reader& r) {
  using namespace words;
  if (t.empty()) return {};
  const std::string object = created_object(t);
  // A temporary table dropped at commit cannot be there when the file is re-run.
  if (object == "TABLE" && (has(t, "TEMP") || has(t, "TEMPORARY")) && r.has(0, r.size(), "commit", "drop")) return {};
  const bool if_not_exists = has_seq(t, {"IF", "NOT", "EXISTS"});
  const bool or_replace = has_seq(t, {"OR", "REPLACE"});
  if (object == "INDEX") {
    // With IF NOT EXISTS a re-run skips an index that was built. One whose
    // concurrent build failed is INVALID and would be skipped too, but the
    // leader drops such a leftover under the name the statement builds
    // before it re-runs the file (detail/run/index_checks.hpp), and refuses
    // to record a migration that left one: so no DROP is needed first.
    return if_not_exists ? std::string{} : "CREATE INDEX without IF NOT EXISTS fails when re-run";
  }
  if ((object == "TABLE" || object == "SCHEMA" || object == "SEQUENCE" || object == "EXTENSION") && !if_not_exists)
    return "CREATE " + object + " without IF NOT EXISTS fails when re-run";
  if (object == "VIEW" && has(t, "MATERIALIZED")) {
    // There is no CREATE OR REPLACE MATERIALIZED VIEW.
    return if_not_exists ? std::string{} : "CREATE MATERIALIZED VIEW without IF NOT EXISTS fails when re-run";
  }
  if ((object == "VIEW" || object == "FUNCTION" || object == "PROCEDURE" || object == "TRIGGER") && !or_replace)
    return "CREATE " + object + " without OR REPLACE fails when re-run";
  if (object == "TYPE") return "CREATE TYPE fails when re-run; wrap it in a DO block that checks pg_type first";
  if (t[0] == "DROP" && !has_seq(t, {"IF", "EXISTS"})) return "DROP without IF EXISTS fails when re-run";
  if (r.size() == 0) {  // no text: the leading tokens only
    if (t[0] == "ALTER" && has_seq(t, {"ADD", "COLUMN"}) && !if_not_exists)
      return "ADD COLUMN without IF NOT EXISTS fails when re-run";
    return {};
  }
  if (r.is(0, "alter") && r.is(1, "table")) return alter_table_rerun(r);
  if (r.is(0, "alter") && r.is(1, "type") && r.has(2, r.size(), "add", "value") &&
      !r.has(2, r.size(), "if", "not"))
    return "ALTER TYPE ... ADD VALUE without IF NOT EXISTS fails when re-run";
  if (r.is(0, "alter") && r.has(2, r.size(), "rename")) {
    // ALTER INDEX|SEQUENCE|VIEW|... [IF EXISTS] x RENAME TO y: IF EXISTS skips the done rename.
    const std::size_t rn = r.find(2, r.size(), [](const sql::Token& tk, std::size_t) { return tk.is("rename"); });
    if (!(r.is(rn + 1, "to") && r.has(1, rn, "if", "exists")))
      return "RENAME fails when re-run (the old name is gone)";
  }
  return {};
}

inline std::string message(const std::string& why) {
  return why + "; a no-transaction migration that fails part-way is re-run from its first statement";
}

}  // namespace lockstep::checks::rules::not_idempotent
