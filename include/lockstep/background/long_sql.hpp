// What a file of long statements may contain (`-- lockstep:background` with
// `-- lockstep:no-transaction`, docs/background.md "Long statements"): work
// that takes too long for a boot and holds no lock that stops the
// application's reads and writes while it runs. A runner runs each
// statement once, whole, outside a transaction, while every replica serves:
//
//   CREATE [UNIQUE] INDEX CONCURRENTLY    DROP INDEX CONCURRENTLY
//   REINDEX ... CONCURRENTLY              ALTER TABLE ... VALIDATE CONSTRAINT
//   ANALYZE                               VACUUM (not FULL)
//   SELECT (a function's work, a check)   SET / RESET (the search_path)
//
// Anything else is refused at pre-flight, before anything runs: a plain
// CREATE INDEX blocks every write to its table for the whole build, and DDL
// that rewrites or locks a table belongs in a boot's migration, where the
// lock-safety checks weigh it. Pure text work: no connection.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "lockstep/background/batch_sql.hpp"
#include "lockstep/checks/words.hpp"
#include "lockstep/error.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/sql/directives.hpp"
#include "lockstep/sql/lexer.hpp"
#include "lockstep/sql/splitter.hpp"

namespace lockstep::background {

namespace detail {

[[nodiscard]] inline bool has_word(const checks::Words& w, std::string_view word, std::size_t within) {
  for (std::size_t i = 0; i < w.size() && i < within; ++i) {
    if (w[i] == word) return true;
  }
  return false;
}

// Why statement `w` (its leading words) may not be a long statement; empty: it may.
[[nodiscard]] inline std::string long_statement_refusal(const checks::Words& w, const std::vector<sql::Token>& tokens) {
  const std::string& head = w[0];
  if (head == "SELECT" || head == "SET" || head == "RESET" || head == "ANALYZE") return {};
  if (head == "VACUUM") {
    return has_word(w, "FULL", 8) ? "VACUUM FULL rewrites the table under an ACCESS EXCLUSIVE lock: every read and "
                                    "write waits for it; run a plain VACUUM, or pg_repack"
                                  : std::string{};
  }
  // A runner runs a statement again when its run was cut (a stop, a kill,
  // a lost session), and when it completed but was not yet recorded: a
  // build or a drop must be one a second run finds done.
  if (head == "CREATE" && (has_word(w, "INDEX", 3))) {
    if (!has_word(w, "CONCURRENTLY", 4)) {
      return "CREATE INDEX without CONCURRENTLY blocks every write to its table for the whole build: write CREATE "
             "INDEX CONCURRENTLY";
    }
    return has_word(w, "EXISTS", 7) ? std::string{}
                                    : "a runner runs a long statement again when its run was cut or not yet "
                                      "recorded, and a second CREATE INDEX CONCURRENTLY fails (or, unnamed, builds a "
                                      "second index): write CREATE INDEX CONCURRENTLY IF NOT EXISTS <name>";
  }
  if (head == "DROP" && w.size() > 1 && w[1] == "INDEX") {
    if (!has_word(w, "CONCURRENTLY", 3)) {
      return "DROP INDEX without CONCURRENTLY waits for an ACCESS EXCLUSIVE lock on its table: write DROP INDEX "
             "CONCURRENTLY";
    }
    return has_word(w, "EXISTS", 6) ? std::string{}
                                    : "a runner runs a long statement again when its run was cut or not yet "
                                      "recorded, and a second DROP INDEX fails: write DROP INDEX CONCURRENTLY IF "
                                      "EXISTS";
  }
  if (head == "REINDEX") {
    return has_word(w, "CONCURRENTLY", 12) ? std::string{}
                                           : "REINDEX without CONCURRENTLY blocks writes (and reads that use the "
                                             "index) for the whole rebuild: write REINDEX ... CONCURRENTLY "
                                             "(PostgreSQL 12 and later)";
  }
  if (head == "ALTER" && w.size() > 1 && w[1] == "TABLE") {
    // Exactly one action, VALIDATE CONSTRAINT: it takes SHARE UPDATE
    // EXCLUSIVE, which lets reads and writes go on while it scans.
    int depth = 0;
    bool validate = false;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      const auto& t = tokens[i];
      if (t.is_punct('(')) ++depth;
      if (t.is_punct(')')) --depth;
      if (depth != 0) continue;
      if (t.is_punct(',')) return "ALTER TABLE with more than one action: only a lone VALIDATE CONSTRAINT runs in "
                                 "the background";
      if (t.is("validate") && i + 1 < tokens.size() && tokens[i + 1].is("constraint")) validate = true;
    }
    return validate ? std::string{}
                    : "of ALTER TABLE, only a lone VALIDATE CONSTRAINT runs in the background (its lock lets reads "
                      "and writes go on); other changes belong in a boot's migration, where lock-safety weighs them";
  }
  if (head == "BEGIN" || head == "START" || head == "COMMIT" || head == "END" || head == "ROLLBACK" ||
      head == "ABORT") {
    return "a runner runs each long statement alone, outside any transaction, so " + head +
           " has no place here; to change rows in transactions, write a batched background migration "
           "(lockstep:batch-over) instead";
  }
  return head + " is not a long statement that runs safely while the application serves (CREATE INDEX "
                "CONCURRENTLY, DROP INDEX CONCURRENTLY, REINDEX ... CONCURRENTLY, ALTER TABLE ... VALIDATE "
                "CONSTRAINT, ANALYZE, VACUUM, SELECT, SET); put it in a migration the boot runs, or batch a data "
                "change with lockstep:batch-over";
}

}  // namespace detail

// What pre-flight, and every runner before it runs one, asks of a file of
// long statements: each statement is one of the above, and no `:lo` or
// `:hi` (there is no batch to fill them with).
[[nodiscard]] inline result<void> check_long_file(const Migration& m, const std::vector<sql::Statement>& statements,
                                                  const sql::Directives& d) {
  if (!d.long_statements()) return outcome::success();
  if (statements.empty()) {
    return lockstep::background::detail::batch_error(
        m, sql::Position{d.background_line > 0 ? d.background_line : 1, 1},
        "a background migration of long statements has no statement to run");
  }
  for (const auto& st : statements) {
    const auto tokens = sql::lex(st.text(m.sql));
    const auto head = checks::leading_words(tokens);
    if (head.empty()) continue;
    if (auto why = detail::long_statement_refusal(head, tokens); !why.empty()) {
      return lockstep::background::detail::batch_error(m, st.position, why);
    }
  }
  const auto at = placeholders(m.sql, statements);
  if (!at.empty()) {
    const sql::LineIndex lines{m.sql};
    return lockstep::background::detail::batch_error(
        m, lines.at(at.front().offset),
        std::string{at.front().hi ? ":hi" : ":lo"} + " names a batch's key, and long statements have no batches "
        "(lockstep:no-transaction): each statement runs once, whole. Remove it, or remove lockstep:no-transaction "
        "and walk the table with lockstep:batch-over");
  }
  return outcome::success();
}

// Either kind of background file: batches (batch_sql.hpp) or long statements.
[[nodiscard]] inline result<void> check_background_file(const Migration& m,
                                                        const std::vector<sql::Statement>& statements,
                                                        const sql::Directives& d) {
  if (d.long_statements()) return check_long_file(m, statements, d);
  return check_batch_file(m, statements, d);
}

}  // namespace lockstep::background
