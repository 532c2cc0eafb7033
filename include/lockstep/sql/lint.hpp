// Pre-flight lint: runs before any migration SQL, so a file that cannot work
// stops the deploy before it touches the schema.
//
// Errors (in a transactional migration):
//   non_transactional  statements PostgreSQL refuses inside a transaction block
//   transaction_control BEGIN/COMMIT/ROLLBACK/...: lockstep owns the transaction
// Warnings (in a no-transaction migration, which a retry re-runs from the top):
//   not_idempotent     statements that fail or misbehave when run twice
#pragma once

#include <algorithm>
#include <cctype>
#include <string_view>
#include <string>
#include <vector>

#include "lockstep/sql/directives.hpp"
#include "lockstep/sql/enum_values.hpp"
#include "lockstep/sql/lexer.hpp"
#include "lockstep/sql/reader.hpp"
#include "lockstep/sql/splitter.hpp"

namespace lockstep::sql {

struct Finding {
  enum class Severity { error, warning };
  Severity severity = Severity::error;
  std::string rule;
  std::string message;
  Position position;
};

// enum_value_in_same_transaction (sql/enum_values.hpp), per statement that
// uses or may use a value added earlier in the same transaction.
struct EnumValueFinding {
  Finding finding;
  // When only the catalog can tell: the enum type (as written) and the names
  // the statement mentions; a relation among them with a column of that type
  // makes it an error (detail/run/enum_uses.hpp).
  std::string type;
  std::vector<std::string> relations;
};

[[nodiscard]] inline std::vector<EnumValueFinding> enum_value_findings(const std::vector<Statement>& statements,
                                                                       const Directives& d, std::string_view sql) {
  std::vector<EnumValueFinding> out;
  if (d.no_transaction || sql.empty()) return out;  // each statement commits on its own
  std::vector<EnumValueAdded> added;
  EnumTables tables;
  for (const auto& s : statements) {
    const std::string_view text = s.text(sql);
    const auto tokens = lex(text);
    if (auto use = enum_value_use(tokens, text, added, tables)) {
      const auto& v = added[use->added];
      EnumValueFinding f;
      f.finding.severity = use->certain ? Finding::Severity::error : Finding::Severity::warning;
      f.finding.rule = "enum_value_in_same_transaction";
      f.finding.message = std::string{use->certain ? "this statement uses" : "this statement may use"} +
                          " the value '" + v.label + "' of enum type " + v.type +
                          ", which ALTER TYPE ... ADD VALUE adds earlier in the same transaction; PostgreSQL "
                          "refuses that (55P04, unsafe use of new value)" +
                          (use->certain ? "" : " if the value is stored in or compared with a column of that "
                                               "type, which needs a database to tell: the leader asks the catalog "
                                               "at pre-flight") +
                          "; put the ADD VALUE in a migration of its own, before this one";
      f.finding.position = s.position;
      if (!use->certain) {
        f.type = v.type;
        f.relations = std::move(use->relations);
      }
      out.push_back(std::move(f));
    }
    note_enum_tables(tokens, text, added, tables);
    if (auto v = enum_value_added(tokens, text)) added.push_back(std::move(*v));
  }
  return out;
}

namespace detail {

inline bool starts(const std::vector<std::string>& t, std::initializer_list<const char*> words) {
  std::size_t i = 0;
  for (const char* w : words) {
    if (i >= t.size() || t[i] != w) return false;
    ++i;
  }
  return true;
}

inline bool has(const std::vector<std::string>& t, const char* w) { return std::find(t.begin(), t.end(), w) != t.end(); }

inline bool has_seq(const std::vector<std::string>& t, std::initializer_list<const char*> words) {
  const std::vector<std::string> seq(words.begin(), words.end());
  return std::search(t.begin(), t.end(), seq.begin(), seq.end()) != t.end();
}

// Skips CREATE's modifiers: CREATE [OR REPLACE] [UNIQUE|TEMP|TEMPORARY|UNLOGGED|GLOBAL|LOCAL] <object>.
inline std::string created_object(const std::vector<std::string>& t) {
  if (t.empty() || t[0] != "CREATE") return {};
  for (std::size_t i = 1; i < t.size(); ++i) {
    const auto& w = t[i];
    if (w == "OR" || w == "REPLACE" || w == "UNIQUE" || w == "TEMP" || w == "TEMPORARY" || w == "UNLOGGED" ||
        w == "GLOBAL" || w == "LOCAL" || w == "MATERIALIZED" || w == "RECURSIVE" || w == "TRUSTED" ||
        w == "PROCEDURAL")
      continue;
    return w;
  }
  return {};
}

// REINDEX [(options)] KIND [CONCURRENTLY]: the kind, and whether it runs
// concurrently, read from the option list too (`(CONCURRENTLY)`,
// `(CONCURRENTLY false)`). `r` reads the whole statement.
struct ReindexForm {
  std::string kind;
  bool concurrently = false;
};
inline ReindexForm reindex_form(const Reader& r) {
  ReindexForm f;
  std::size_t i = 1;
  if (r.punct(i, '(')) {
    const auto o = r.options(i);
    f.concurrently = o.on("concurrently");
    i = o.next;
  }
  if (const Token* k = r.at(i); k != nullptr && k->kind == Token::Kind::word) f.kind = upper(k->text);
  f.concurrently = f.concurrently || r.is(i + 1, "concurrently");
  return f;
}

// Why the statement cannot run inside a transaction block, or "".
inline std::string non_transactional(const std::vector<std::string>& t, const Reader& r, int server_version) {
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

inline bool transaction_control(const std::vector<std::string>& t) {
  if (t.empty()) return false;
  const auto& w = t[0];
  if (w == "BEGIN" || w == "COMMIT" || w == "END" || w == "ABORT") return true;
  if (w == "START" && t.size() > 1 && t[1] == "TRANSACTION") return true;
  if (w == "ROLLBACK") return !(t.size() > 1 && (t[1] == "TO" || t[1] == "PREPARED"));
  return false;
}

// Two-phase commit: PREPARE TRANSACTION hands the work to a prepared
// transaction that outlives the session, uncommitted and holding its locks,
// while the session looks idle; COMMIT/ROLLBACK PREPARED finish someone's.
// Neither belongs in a migration, in a transaction or not: lockstep records
// a migration only when its work is committed.
inline bool two_phase_commit(const std::vector<std::string>& t) {
  if (t.size() < 2) return false;
  if (t[0] == "PREPARE" && t[1] == "TRANSACTION") return true;
  return (t[0] == "COMMIT" || t[0] == "ROLLBACK") && t[1] == "PREPARED";
}

// ALTER TABLE's actions that fail (or repeat themselves) when a re-run finds
// them done: `r` reads the whole statement, every action at depth 0.
inline std::string alter_table_rerun(const Reader& r) {
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
    const std::size_t end = r.find(a, r.size(), [](const Token& tk, std::size_t) { return tk.is_punct(','); });
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
inline std::string not_idempotent(const std::vector<std::string>& t, const Reader& r) {
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
    const std::size_t rn = r.find(2, r.size(), [](const Token& tk, std::size_t) { return tk.is("rename"); });
    if (!(r.is(rn + 1, "to") && r.has(1, rn, "if", "exists")))
      return "RENAME fails when re-run (the old name is gone)";
  }
  return {};
}

}  // namespace detail


// `sql` is the file the statements came from (for rules that read literals).
[[nodiscard]] inline std::vector<Finding> lint(const std::vector<Statement>& statements, const Directives& d,
                                               int server_version = 0, std::string_view sql = {}) {
  std::vector<Finding> out;
  const auto enum_uses = enum_value_findings(statements, d, sql);
  auto next_use = enum_uses.begin();
  for (const auto& s : statements) {
    // The whole statement, where a rule reads past the leading tokens.
    const std::vector<Token> lexed = sql.empty() ? std::vector<Token>{} : lex(s.text(sql));
    const Reader reader{lexed, sql.empty() ? std::string_view{} : s.text(sql)};
    if (next_use != enum_uses.end() && next_use->finding.position.line == s.position.line &&
        next_use->finding.position.column == s.position.column)
      out.push_back((next_use++)->finding);
    if (detail::two_phase_commit(s.tokens)) {
      out.push_back({Finding::Severity::error, "transaction_control",
                     s.tokens[0] + " " + s.tokens[1] +
                         " inside a migration: two-phase commit leaves the work in a prepared transaction that is "
                         "not committed (it holds its locks until someone runs COMMIT PREPARED or ROLLBACK PREPARED), "
                         "and lockstep records a migration only when its work is committed; remove it",
                     s.position});
    } else if (!d.no_transaction) {
      if (auto why = detail::non_transactional(s.tokens, reader, server_version); !why.empty()) {
        out.push_back({Finding::Severity::error, "non_transactional",
                       why + " cannot run inside a transaction block; put it in its own migration whose first "
                             "line is `-- lockstep:no-transaction` (statements there run one by one and must be "
                             "safe to re-run)",
                       s.position});
      } else if (detail::transaction_control(s.tokens)) {
        out.push_back({Finding::Severity::error, "transaction_control",
                       s.tokens[0] + " inside a migration: lockstep runs each migration in its own transaction "
                                     "together with its ledger row; remove it (a file marked `-- lockstep:no-transaction` may "
                                     "run its own BEGIN ... COMMIT blocks, each closed by COMMIT or ROLLBACK in the "
                                     "same file: one left open fails the migration)",
                       s.position});
      }
    } else if (auto why = detail::not_idempotent(s.tokens, reader); !why.empty()) {
      out.push_back({Finding::Severity::warning, "not_idempotent",
                     why + "; a no-transaction migration that fails part-way is re-run from its first statement",
                     s.position});
    }
  }
  return out;
}

}  // namespace lockstep::sql
