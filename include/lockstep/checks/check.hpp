// The one entry point of the checks: pre-flight (detail/run/preflight.hpp)
// and `lockstep lint` both read migrations through a Checker. It reads a
// migration's bytes, statements and directives, runs the statement rules,
// then the lock rules (safety/analyze.hpp reads what each statement does to
// a live table; safety/judge.hpp sizes it against the catalog when there is
// one), and applies the levels of LockSafety and the migration's
// `-- lockstep:allow=<rule>` lines to every finding alike.
//
// Offline (no connection) a lock finding the catalog could size or dismiss
// says so (Finding::needs_database); with one, the Checker asks.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lockstep/checks/config.hpp"
#include "lockstep/checks/finding.hpp"
#include "lockstep/checks/rules.hpp"
#include "lockstep/checks/statements.hpp"
#include "lockstep/connection.hpp"
#include "lockstep/detail/base/catch_all.hpp"
#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/detail/base/utf8.hpp"
#include "lockstep/background/batch_sql.hpp"
#include "lockstep/background/long_sql.hpp"
#include "lockstep/error.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/safety/analyze.hpp"
#include "lockstep/safety/catalog.hpp"
#include "lockstep/safety/judge.hpp"
#include "lockstep/sql/directives.hpp"
#include "lockstep/sql/splitter.hpp"

namespace lockstep {

struct CheckOptions {
  LockSafety rules;        // levels per rule id, the size that makes a lock finding an error
  int server_version = 0;  // PG_VERSION_NUM of the target (e.g. 150004); 0: unknown, the current major assumed
};

// A migration read and checked: what the Migrator runs.
struct CheckedMigration {
  std::vector<sql::Statement> statements;
  sql::Directives directives;
  std::vector<Finding> findings;  // the statement rules', none blocking (a blocking one is the error)
};

namespace detail {

[[nodiscard]] inline Error at_migration(Error e, const Migration& m) {
  e.version = m.version;
  e.migration_name = m.name;
  e.file = m.origin;
  e.message = "migration " + std::to_string(m.version) + " (" + m.origin + "): " + e.message;
  return e;
}

// libpq sends SQL as a C string: a NUL byte would silently cut the migration
// short. And invalid UTF-8 would only fail at the server, after earlier
// migrations ran. Both are caught here, before anything runs.
[[nodiscard]] inline result<void> check_bytes(const Migration& m) {
  const sql::LineIndex lines{m.sql};
  auto bad = [&](std::size_t at, const std::string& why) {
    auto e = make_error(errc::source_invalid, why);
    const auto pos = lines.at(at);
    e.line = pos.line;
    e.column = pos.column;
    return at_migration(std::move(e), m);
  };
  const auto found = first_bad_byte(m.sql);
  if (!found) return outcome::success();
  if (found->nul) return bad(found->offset, "the file contains a NUL byte, which would silently cut the migration short");
  return bad(found->offset, "the file is not valid UTF-8 here; lockstep sends migrations as UTF-8, so re-save it as UTF-8");
}

}  // namespace detail

namespace checks {

// A configured level wins over the rule's own (off: the finding goes); an
// allow line of the migration accepts it. False: not reported. A fixed rule
// keeps its own level whatever is configured (check_level refuses such a
// setting up front; this holds even for a LockSafety never checked).
[[nodiscard]] inline bool settle_level(Finding& f, const LockSafety& config,
                                       const std::map<std::string, std::string>& allow) {
  if (const Rule* rule = find_rule(f.rule); rule != nullptr && rule->fixed) return true;
  if (const auto c = config.levels.find(f.rule); c != config.levels.end()) {
    if (c->second == Level::off) return false;
    f.level = c->second;
  }
  if (const auto a = allow.find(f.rule); a != allow.end()) f.allowed = a->second;
  return true;
}

}  // namespace checks

class Checker {
 public:
  // `conn`: the live database, at pre-flight (null offline). One Checker
  // reads one run, in order: a table an earlier migration creates is new
  // to the later ones.
  explicit Checker(CheckOptions options, Connection* conn = nullptr)
      : options_{std::move(options)}, conn_{conn}, analyzer_{options_.server_version, conn} {
    if (conn_ != nullptr) catalog_.emplace(*conn_);
  }

  [[nodiscard]] const CheckOptions& options() const noexcept { return options_; }

  // Bytes, statements, directives and the statement rules. A statement
  // finding that blocks is the error (source_invalid), naming its position.
  // No exception escapes (out of memory, say): it is internal_error.
  [[nodiscard]] result<CheckedMigration> read(const Migration& m) noexcept {
    return detail::catch_all<CheckedMigration>("checking a migration", [&] { return read_checked(m); });
  }

  // The lock rules over `m` (read by read(), in run order), judged against
  // the catalog when connected. Empty when LockSafety::enabled is false.
  [[nodiscard]] result<std::vector<Finding>> lock_findings(const Migration& m, const CheckedMigration& p) noexcept {
    return detail::catch_all<std::vector<Finding>>("checking a migration's locks", [&]() -> result<std::vector<Finding>> {
      if (!options_.rules.enabled) return std::vector<Finding>{};
      const auto hazards = analyzer_.migration(p.statements, m.sql, p.directives);
      if (analyzer_.error()) return *analyzer_.error();
      return safety::judge(hazards, options_.rules, catalog_ ? &*catalog_ : nullptr, p.directives.allow);
    });
  }

 private:
  [[nodiscard]] result<CheckedMigration> read_checked(const Migration& m) {
    CheckedMigration p;
    LOCKSTEP_TRYV(detail::check_bytes(m));
    auto statements = sql::split(m.sql);
    if (!statements) return detail::at_migration(std::move(statements).error(), m);
    p.statements = std::move(statements).value();
    const std::size_t prefix_end = p.statements.empty() ? m.sql.size() : p.statements.front().begin;
    auto directives = sql::parse_directives(m.sql, prefix_end);
    if (!directives) return detail::at_migration(std::move(directives).error(), m);
    p.directives = directives.value();
    // The source is loaded on every boot and reads the phase from the leading
    // comment lines alone (sql::declares_contract); both readings must agree.
    if (p.directives.contract != sql::declares_contract(m.sql)) {
      return detail::at_migration(make_error(errc::source_invalid,
                                             "its lockstep:phase directive must be among the comment lines (-- "
                                             "...) at the top of the file, before any block comment or statement"),
                                  m);
    }
    // The same holds for what the boot reads of a background file and a
    // requirement (sql::declares_background, sql::declared_requirement).
    if (p.directives.background != sql::declares_background(m.sql) ||
        p.directives.requires_background.value_or(0) != sql::declared_requirement(m.sql) ||
        p.directives.after_old_replicas_gone != sql::leading_directive(m.sql, "after").has_value() ||
        (p.directives.background &&
         p.directives.no_transaction != sql::leading_directive(m.sql, "no-transaction").has_value())) {
      return detail::at_migration(make_error(errc::source_invalid,
                                             "its lockstep:background, lockstep:requires-background, "
                                             "lockstep:no-transaction (in a background file) and lockstep:after "
                                             "directives must be among the comment lines (-- ...) at "
                                             "the top of the file, before any block comment or statement"),
                                  m);
    }
    // A background file's batches (background/batch_sql.hpp): DML over `:lo`..`:hi`;
    // or its long statements (background/long_sql.hpp).
    LOCKSTEP_TRYV(background::check_background_file(m, p.statements, p.directives));
    auto found = checks::statement_findings(p.statements, p.directives, options_.server_version, m.sql);
    // As the lock rules do: the catalog settles what it can first, then the
    // level decides (a use configured as an error blocks only once the
    // catalog has not dismissed it).
    if (conn_ != nullptr) LOCKSTEP_TRYV(settle_enum_uses(m, p, found));
    for (auto& f : found) {
      if (!checks::settle_level(f, options_.rules, p.directives.allow)) continue;
      if (f.blocks()) return blocking(f, f.message, m);
      p.findings.push_back(std::move(f));
    }
    return p;
  }


  [[nodiscard]] static Error blocking(const Finding& f, const std::string& message, const Migration& m) {
    auto e = make_error(errc::source_invalid, message);
    e.line = f.position.line;
    e.column = f.position.column;
    return detail::at_migration(std::move(e), m);
  }

  // enum_value_in_same_transaction's question, for each unsure use of
  // `found` (before levels are applied): a relation it names with a column
  // of the type makes it certain (an error, unless configured or allowed
  // otherwise); none dismisses it. A rule configured off asks nothing.
  [[nodiscard]] result<void> settle_enum_uses(const Migration& m, const CheckedMigration& p,
                                              std::vector<Finding>& found) {
    namespace rule = checks::rules::enum_value_in_same_transaction;
    if (const auto c = options_.rules.levels.find(std::string{rule::rule.id});
        c != options_.rules.levels.end() && c->second == checks::Level::off)
      return outcome::success();
    std::vector<Finding> kept;
    const auto uses = rule::uses(p.statements, p.directives.no_transaction, m.sql);
    for (auto& f : found) {
      const rule::Use* use = nullptr;
      if (f.rule == rule::rule.id) {
        for (const auto& u : uses)
          if (!u.type.empty() && u.finding.position.line == f.position.line &&
              u.finding.position.column == f.position.column)
            use = &u;
      }
      if (use == nullptr) {
        kept.push_back(std::move(f));
        continue;
      }
      LOCKSTEP_TRY(answer, rule::ask(*conn_, *use));
      if (answer.dismissed) continue;
      if (answer.column) {
        f.level = checks::Level::error;
        f.message = rule::certain_message(*answer.column, use->type);
      }
      kept.push_back(std::move(f));
    }
    found = std::move(kept);
    return outcome::success();
  }

  CheckOptions options_;
  Connection* conn_;
  safety::Analyzer analyzer_;
  std::optional<safety::Catalog> catalog_;
};

// One file alone, offline, as the one pending migration of a deploy: what
// `lockstep lint` reports. The statement rules' findings, then the lock
// rules'; an error when the file cannot be read or a statement rule blocks.
// No exception escapes: it is internal_error.
[[nodiscard]] inline result<std::vector<Finding>> check(const Migration& m, const CheckOptions& options) noexcept {
  return detail::catch_all<std::vector<Finding>>("checking a migration", [&]() -> result<std::vector<Finding>> {
    Checker checker{options};
    LOCKSTEP_TRY(p, checker.read(m));
    LOCKSTEP_TRY(locks, checker.lock_findings(m, p));
    std::vector<Finding> out = std::move(p.findings);
    for (auto& f : locks) out.push_back(std::move(f));
    return out;
  });
}

}  // namespace lockstep
