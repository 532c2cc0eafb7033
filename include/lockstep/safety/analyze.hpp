// Reads a migration's statements for what they do to live tables: the
// shared half of the lock rules, whose detection is in their own files
// (checks/rules/<id>.hpp). This reader does what the rules share, once per
// statement: which statement it is (EXPLAIN ANALYZE unwrapped), the ALTER
// TABLE actions it holds and, for ADD COLUMN, the column's type and DEFAULT
// clause (safety/scan.hpp: ColumnDef), which tables it names and whether
// they were there before the run, what the run creates, and which lock the
// statement takes; it hands each rule its clause through safety/scan.hpp,
// and keeps the state rules carry across statements (validate_same_
// transaction's NOT VALID tables, set_not_null's proofs, lock_held_across_
// statements' held lock). A rule says so (Hazard::certain) when the text
// alone cannot decide; its catalog question settles the rest
// (safety/judge.hpp asks it).
//
// One Analyzer reads a whole run, in order, so a table created by an earlier
// statement or migration is known to be new: the sized rules and the
// old-code rules never fire on it (nothing else can be using it yet). Tables
// are told apart by their schema-qualified name as the server resolves it,
// under the search_path each file sets (safety/relations.hpp); at pre-flight
// the catalog says whether a CREATE ... IF NOT EXISTS creates anything.
#pragma once

#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "lockstep/safety/hazard.hpp"
#include "lockstep/safety/relations.hpp"
#include "lockstep/safety/scan.hpp"
#include "lockstep/checks/rules.hpp"
#include "lockstep/sql/directives.hpp"
#include "lockstep/sql/lexer.hpp"
#include "lockstep/sql/reader.hpp"
#include "lockstep/sql/search_path.hpp"
#include "lockstep/sql/splitter.hpp"

namespace lockstep::safety {

namespace detail {

using sql::Token;
using Tokens = std::vector<Token>;

using sql::Name;
using sql::Reader;

}  // namespace detail

class Analyzer {
 public:
  // server_version: PG_VERSION_NUM of the target (e.g. 150004), or 0 when
  // unknown (offline lint without --pg-version: the current major assumed).
  // `conn`: the live catalog, at pre-flight (null offline): which tables
  // and schemas exist before the run.
  explicit Analyzer(int server_version = 0, Connection* conn = nullptr)
      : server_version_{server_version}, relations_{conn} {}

  // The hazards of one migration, in statement order.
  [[nodiscard]] std::vector<Hazard> migration(const std::vector<sql::Statement>& statements, std::string_view sql,
                                              const sql::Directives& d) {
    const sql::LineIndex lines{sql};
    Migration m{d, sql, lines, {}, {}, std::vector<Hazard>{}};
    // Each migration starts on the session's own search_path: the leader
    // resets the session after every migration.
    sql::SearchPathTracker path{!d.no_transaction};
    for (const auto& st : statements) {
      path_ = path.current();
      statement(m, st);
      path.statement(sql::lex(st.text(sql)));
    }
    path_.reset();
    return std::move(m.out);
  }

  // A catalog question that failed (the connection was lost): the run's
  // business, reported by the caller.
  [[nodiscard]] const std::optional<Error>& error() const { return relations_.error(); }

 private:
  struct Migration {
    const sql::Directives& d;
    std::string_view sql;
    const sql::LineIndex& lines;
    checks::rules::validate_same_transaction::NotValid not_valid;
    checks::rules::lock_held_across_statements::Held held;
    std::vector<Hazard> out;
  };

  void statement(Migration& m, const sql::Statement& st) {
    const std::string_view text = st.text(m.sql);
    const auto tokens = sql::lex(text);
    if (tokens.empty()) return;
    detail::Reader r{tokens, text};
    // EXPLAIN ANALYZE runs its statement; a plain EXPLAIN only plans it.
    if (r.is(0, "explain")) {
      std::size_t i = 1;
      bool analyze = false;
      if (r.punct(i, '(')) {
        const auto o = r.options(i);
        analyze = o.on("analyze") || o.on("analyse");
        i = o.next;
      } else {
        for (; r.is(i, "analyze") || r.is(i, "analyse") || r.is(i, "verbose"); ++i) analyze = analyze || !r.is(i, "verbose");
      }
      if (!analyze || i >= tokens.size()) return;
      sql::Statement inner = st;
      inner.begin = st.begin + tokens[i].offset;
      return statement(m, inner);
    }
    const std::size_t before = m.out.size();
    Scan s{r, tokens, st.begin, m.lines, m.d.no_transaction, m.d.contract, m.d.background, server_version_, relations_, path_,
           m.out};
    Effect e;
    if (r.is(0, "create")) create(s);
    else if (r.is(0, "alter") && r.is(1, "table")) alter_table(m, s, e);
    else if (r.is(0, "alter") && r.is(1, "domain")) alter_domain(s);
    else if (r.is(0, "drop")) drop(s, e);
    else if (r.is(0, "reindex")) checks::rules::reindex_not_concurrent::detect(s);
    else if (r.is(0, "vacuum")) checks::rules::table_rewrite::vacuum(s, e);
    else if (r.is(0, "cluster")) checks::rules::table_rewrite::cluster(s, e);
    else if (r.is(0, "lock")) lock(m, r, e);
    else if (r.is(0, "truncate")) truncate(s, e);
    else if (r.is(0, "update")) e.long_work = !existing(r.name(r.is(1, "only") ? 2 : 1)).empty();
    else if (r.is(0, "delete")) e.long_work = !existing(r.name(r.is(2, "only") ? 3 : 2)).empty();
    if (r.is(0, "update") || r.is(0, "delete") || r.is(0, "with")) checks::rules::unbatched_dml::detect(s);
    // ALTER TABLE ONLY: the parent alone, not its partitions or children.
    const bool only = r.is(0, "alter") && r.is(1, "table") && r.is(r.skip_if_exists(2), "only");
    for (std::size_t i = before; i < m.out.size(); ++i) {
      m.out[i].only = m.out[i].only || only;
      const Rule* rule = find_rule(m.out[i].rule);
      if (rule != nullptr && rule->sized && !e.long_work) {
        e.long_work = true;
        e.sized_hazard = static_cast<int>(i);
      }
    }
    e.kind = sql::detail::upper(tokens[0].text);
    checks::rules::lock_held_across_statements::after(s, m.held, e);
  }

  // The name when it is a table that existed before this run, else "".
  [[nodiscard]] std::string existing(const detail::Name& n) {
    if (n.text.empty()) return {};
    const auto ref = relations_.find(n, path_);
    return ref.is_new ? std::string{} : ref.relation;
  }

  static std::string schema_of(const std::string& key) { return key.substr(0, key.rfind('.')); }

  void create(Scan& s) {
    const auto& r = s.r;
    std::size_t i = 1;
    const bool or_replace = r.is(i, "or") && r.is(i + 1, "replace");
    if (or_replace) i += 2;
    bool temp = false;
    while (r.is(i, "unique") || r.is(i, "temp") || r.is(i, "temporary") || r.is(i, "unlogged") ||
           r.is(i, "global") || r.is(i, "local") || r.is(i, "recursive")) {
      temp = temp || r.is(i, "temp") || r.is(i, "temporary");
      ++i;
    }
    // A view the run creates is new, like a table: an UPDATE or DELETE through
    // it (unbatched_dml) names no relation that was there before the run.
    // OR REPLACE of a view that is there creates nothing.
    if (r.is(i, "view")) {
      (void)relations_.create(r.name(r.skip_if_exists(i + 1)), path_, or_replace, temp);
      return;
    }
    if (r.is(i, "domain")) {
      new_domains_.insert(r.name(i + 1).folded);  // no column uses it yet
      return;
    }
    if (r.is(i, "index")) {
      ++i;
      const bool concurrently = r.is(i, "concurrently");
      if (concurrently) ++i;
      const bool if_not_exists = r.is(i, "if");
      i = r.skip_if_exists(i);
      detail::Name index;
      if (!r.is(i, "on")) {
        index = r.name(i);
        i = index.next;
      }
      if (!r.is(i, "on")) return;
      ++i;
      const bool only = r.is(i, "only");
      if (only) ++i;
      const auto table = r.name(i);
      const auto ref = relations_.find(table, path_);
      // An index lives in its table's schema; dropping one this run built
      // blocks nobody. IF NOT EXISTS over an index that is there builds nothing.
      if (!index.folded.empty() && !ref.key.empty() &&
          !relations_.create_in(schema_of(ref.key), index.folded, if_not_exists))
        return;
      const bool live = !ref.is_new && !table.text.empty();
      checks::rules::index_not_concurrent::detect(s, concurrently, only, live ? ref.relation : std::string{});
      return;
    }
    if (r.is(i, "schema")) {
      const std::size_t at_name = r.skip_if_exists(i + 1);
      const auto schema = r.name(r.is(at_name, "authorization") ? at_name + 1 : at_name);  // or named after the role
      relations_.create_schema(schema.folded);
      // Its elements: CREATE SCHEMA s CREATE TABLE t ... creates s.t.
      for (std::size_t k = schema.next; k + 2 < r.size(); ++k) {
        if (!r.is(k, "create")) continue;
        std::size_t j = k + 1;
        while (r.is(j, "unlogged") || r.is(j, "temp") || r.is(j, "temporary")) ++j;
        if (r.is(j, "table") || r.is(j, "view") || r.is(j, "sequence") || r.is(j, "index")) {
          const bool index = r.is(j, "index");
          const auto name = r.name(r.skip_if_exists(j + 1));
          if (!name.folded.empty() && !(index && r.is(name.next - 1, "on")))
            (void)relations_.create_in(schema.folded, name.folded, false);
        }
      }
      return;
    }
    if (r.is(i, "materialized") && r.is(i + 1, "view")) {
      const bool if_not_exists = r.is(i + 2, "if");
      (void)relations_.create(r.name(r.skip_if_exists(i + 2)), path_, if_not_exists);
      return;
    }
    if (r.is(i, "table")) {
      const bool if_not_exists = r.is(i + 1, "if");
      i = r.skip_if_exists(i + 1);
      const auto table = r.name(i);
      if (table.text.empty()) return;
      (void)relations_.create(table, path_, if_not_exists, temp);
      checks::rules::json_column::create_table(s, table);
    }
  }

  void alter_table(Migration& m, Scan& s, Effect& e) {
    const auto& r = s.r;
    std::size_t i = r.skip_if_exists(2);
    if (r.is(i, "only")) ++i;
    const auto table = r.name(i);
    if (table.text.empty()) return;
    const auto ref = relations_.find(table, path_);
    const std::string live = ref.is_new ? std::string{} : ref.relation;
    // RENAME stands alone.
    if (r.is(table.next, "rename")) {
      const std::size_t j = table.next + 1;
      if (r.is(j, "constraint")) return;
      if (!live.empty()) e.exclusive_table = live;
      checks::rules::rename_breaks_old_code::detect(s, live, table.next);
      // RENAME [COLUMN] c TO d: the row type's names change (RENAME TO renames the table).
      if (!r.is(j, "to")) {
        const auto column = r.name(r.is(j, "column") ? j + 1 : j);
        checks::rules::row_type_change::detect(s, live, table.next, "RENAME COLUMN " + column.text);
      }
      // Old code cannot know the new name either.
      if (r.is(j, "to")) relations_.renamed(ref, r.name(j + 1).folded);
      return;
    }
    // Actions, comma-separated at depth 0.
    std::size_t from = table.next;
    while (from < r.size()) {
      const std::size_t end = r.find(from, r.size(), [](const sql::Token& t, std::size_t) { return t.is_punct(','); });
      action(m, s, e, table, ref.key, live, from, end);
      from = end + 1;
    }
  }

  // `key`: the table as Relations resolves it (empty: not there), what the
  // SET NOT NULL proof is keyed by, like "created in this run".
  void action(Migration& m, Scan& s, Effect& e, const detail::Name& table, const std::string& key,
              const std::string& live, std::size_t a, std::size_t end) {
    const auto& r = s.r;
    bool exclusive = true;  // most ALTER TABLE actions take ACCESS EXCLUSIVE
    const std::string& t = table.text;
    if (r.is(a, "add")) {
      std::size_t i = a + 1;
      const bool constraint = r.is(i, "constraint") || r.is(i, "check") || r.is(i, "foreign") ||
                              r.is(i, "unique") || r.is(i, "primary") || r.is(i, "exclude");
      if (constraint) {
        std::string name;
        if (r.is(i, "constraint")) {
          name = r.name(i + 1).folded;
          i = r.name(i + 1).next;
        }
        const bool not_valid = r.has(i, end, "not", "valid");
        if (not_valid) checks::rules::validate_same_transaction::added_not_valid(m.not_valid, live);
        if (r.is(i, "foreign")) {
          exclusive = false;  // SHARE ROW EXCLUSIVE on both tables
          checks::rules::foreign_key_scan::add_constraint(s, live, a, i, end, not_valid);
        } else if (r.is(i, "check")) {
          not_null_proofs_.added_check(r, key, name, i + 1, end, !not_valid);
          checks::rules::constraint_scan::add_constraint(s, live, a, not_valid);
        } else {
          checks::rules::unique_constraint_build::add_constraint(s, live, a, i, end);
        }
      } else {
        if (r.is(i, "column")) ++i;
        i = r.skip_if_exists(i);
        checks::rules::row_type_change::detect(s, live, a, "ADD COLUMN " + r.name(i).text);
        add_column(s, t, live, a, i, end);
      }
    } else if (r.is(a, "alter")) {
      std::size_t i = a + 1;
      if (r.is(i, "column")) ++i;
      const auto column = r.name(i);
      std::size_t j = column.next;
      if (r.is(j, "set") && r.is(j + 1, "data")) j += 2;
      if (r.is(j, "type")) {
        checks::rules::json_column::column(s, j + 1, column.text, t);
        checks::rules::type_change::alter_type(s, live, a, column, j + 1, end);
        checks::rules::row_type_change::detect(s, live, a, "ALTER COLUMN " + column.text + " TYPE");
      } else if (r.is(j, "set") && r.is(j + 1, "not") && r.is(j + 2, "null")) {
        checks::rules::set_not_null::detect(s, not_null_proofs_, key, live, a, column);
      } else if (r.is(j, "set") && r.is(j + 1, "statistics")) {
        exclusive = false;
      }
    } else if (r.is(a, "validate")) {
      exclusive = false;  // SHARE UPDATE EXCLUSIVE
      not_null_proofs_.validated(key, r.name(a + 2).folded);
      checks::rules::validate_same_transaction::detect(s, m.not_valid, e, live, a);
    } else if (r.is(a, "drop")) {
      std::size_t i = a + 1;
      if (r.is(i, "constraint")) {
        const auto name = r.name(r.skip_if_exists(i + 1));
        not_null_proofs_.dropped(key, name.folded);
        return note_exclusive(e, live, exclusive);
      }
      if (r.is(i, "column")) ++i;
      i = r.skip_if_exists(i);
      checks::rules::drop_breaks_old_code::column(s, live, a, r.name(i));
      checks::rules::row_type_change::detect(s, live, a, "DROP COLUMN " + r.name(i).text);
    } else if (r.is(a, "set") && (r.is(a + 1, "tablespace") || r.is(a + 1, "logged") || r.is(a + 1, "unlogged"))) {
      checks::rules::table_rewrite::set_storage(s, live, a);
    } else if (r.is(a, "detach")) {
      exclusive = checks::rules::detach_partition_not_concurrent::detect(s, live, a, end);
    } else if ((r.is(a, "set") || r.is(a, "reset")) && r.punct(a + 1, '(')) {
      exclusive = false;
    } else if (r.is(a, "enable") || r.is(a, "disable") || r.is(a, "attach") || r.is(a, "cluster") ||
               (r.is(a, "set") && r.is(a + 1, "without")) || r.is(a, "owner")) {
      exclusive = r.is(a, "owner");
    }
    note_exclusive(e, live, exclusive);
  }

  static void note_exclusive(Effect& e, const std::string& live, bool exclusive) {
    if (exclusive && !live.empty() && e.exclusive_table.empty()) e.exclusive_table = live;
  }

  // ADD COLUMN name type [constraints]: i at the column name, the action
  // from `a` to `end`. Read once here (its type, its DEFAULT clause) for the
  // rules that read a new column, each its own clause.
  void add_column(Scan& s, const std::string& t, const std::string& live, std::size_t a, std::size_t i,
                  std::size_t end) {
    const auto& r = s.r;
    ColumnDef c;
    c.name = r.name(i);
    c.action = a;
    c.type = c.name.next;
    c.end = end;
    if (r.at(c.type) == nullptr) return;
    checks::rules::json_column::column(s, c.type, c.name.text, t);
    if (live.empty()) return;
    c.type_end = r.find(c.type, end, column_clause);
    // GENERATED BY DEFAULT AS IDENTITY is an identity column (generated_column's),
    // not a DEFAULT clause: `identity (` read as a call was a volatile default.
    c.default_at = r.find(c.type, end, [&r](const sql::Token& tk, std::size_t at) {
      return tk.is("default") && !(at > 0 && r.is(at - 1, "by"));
    });
    c.default_end = c.default_at >= end ? end : r.find(c.default_at + 1, end, column_clause);
    c.no_default = c.default_at >= end || c.default_at + 1 >= c.default_end ||
                   (r.is(c.default_at + 1, "null") && c.default_at + 2 == c.default_end);
    // In the order their findings are listed.
    checks::rules::generated_column::column(s, live, c);
    checks::rules::foreign_key_scan::column(s, live, c);
    checks::rules::unique_constraint_build::column(s, live, c);
    checks::rules::constraint_scan::column(s, live, c);
    checks::rules::not_null_without_default::column(s, live, c);
    checks::rules::volatile_default::column(s, live, c);
  }

  void drop(Scan& s, Effect& e) {
    const auto& r = s.r;
    if (r.is(1, "index")) {
      namespace rule = checks::rules::drop_index_not_concurrent;
      if (!rule::locks(s)) return;
      const auto index = r.name(r.skip_if_exists(2));
      if (index.text.empty()) return;
      const auto ref = relations_.find(index, path_);
      relations_.drop(ref);
      return rule::detect(s, ref.relation, !ref.is_new);
    }
    if (r.is(1, "database")) return checks::rules::drop_database::detect(s);
    if (!r.is(1, "table")) return;
    std::size_t i = r.skip_if_exists(2);
    while (i < r.size()) {
      const auto table = r.name(i);
      if (table.text.empty()) break;
      const auto ref = relations_.find(table, path_);
      const std::string live = ref.is_new ? std::string{} : ref.relation;
      if (!live.empty()) {
        note_exclusive(e, live, true);
        checks::rules::drop_breaks_old_code::table(s, live);
      }
      relations_.drop(ref);
      if (!r.punct(table.next, ',')) break;
      i = table.next + 1;
    }
  }

  // ALTER DOMAIN d ...: of a domain this run did not create (no column uses that one yet).
  void alter_domain(Scan& s) {
    const auto domain = s.r.name(2);
    if (domain.text.empty() || new_domains_.count(domain.folded) != 0) return;
    checks::rules::domain_constraint_scan::detect(s, domain);
  }

  // TRUNCATE [TABLE] [ONLY] name [*] [, ...] ...: locks its tables; the
  // first one that is live is what a finding names.
  void truncate(Scan& s, Effect& e) {
    const auto& r = s.r;
    std::size_t i = r.is(1, "table") ? 2 : 1;
    std::vector<std::string> names;
    std::string live;
    while (i < r.size()) {
      if (r.is(i, "only")) ++i;
      const auto t = r.name(i);
      if (t.text.empty()) break;
      names.push_back(t.text);
      if (live.empty()) live = existing(t);
      i = t.next;
      if (r.punct(i, '*')) ++i;
      if (!r.punct(i, ',')) break;
      ++i;
    }
    e.exclusive_table = live;
    checks::rules::truncate_cascade::detect(s, std::move(names), live, i);
  }

  void lock(Migration&, const detail::Reader& r, Effect& e) {
    std::size_t i = r.is(1, "table") ? 2 : 1;
    if (r.is(i, "only")) ++i;
    const auto table = r.name(i);
    const std::size_t in = r.find(table.next, r.size(), [](const sql::Token& t, std::size_t) { return t.is("mode"); });
    const bool access_exclusive = in >= r.size() || (in >= 2 && r.is(in - 2, "access") && r.is(in - 1, "exclusive"));
    if (access_exclusive) e.exclusive_table = existing(table);
  }

  int server_version_;
  std::set<std::string> new_domains_;  // created in this run (folded)
  checks::rules::set_not_null::Proofs not_null_proofs_;  // what proves a SET NOT NULL, across the run
  Relations relations_;
  sql::SearchPath path_;  // the statement's search_path, as the file set it
};

}  // namespace lockstep::safety
