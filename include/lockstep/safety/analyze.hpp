// Reads a migration's statements for what they do to live tables: the text
// half of the lock rules (checks/rules/<id>.hpp). It knows PostgreSQL's
// grammar only as far as the rules need it, and says so (Hazard::certain)
// when the text alone cannot decide; the catalog settles the rest
// (safety/catalog.hpp, safety/judge.hpp).
//
// One Analyzer reads a whole run, in order, so a table created by an earlier
// statement or migration is known to be new: the sized rules and the
// old-code rules never fire on it (nothing else can be using it yet). Tables
// are told apart by their schema-qualified name as the server resolves it,
// under the search_path each file sets (safety/relations.hpp); at pre-flight
// the catalog says whether a CREATE ... IF NOT EXISTS creates anything.
#pragma once

#include <algorithm>
#include <cstddef>
#include <map>
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

// Functions a default may call, by what the text alone can tell.
inline bool known_volatile(std::string_view f) {
  static constexpr std::string_view names[] = {"gen_random_uuid", "uuid_generate_v1", "uuid_generate_v1mc",
                                               "uuid_generate_v4", "uuidv4", "uuidv7", "random", "clock_timestamp",
                                               "timeofday", "nextval", "txid_current", "gen_random_bytes"};
  return std::find(std::begin(names), std::end(names), f) != std::end(names);
}
inline bool known_not_volatile(std::string_view f) {
  // SQL syntax that looks like a call, type names with modifiers, and common
  // stable or immutable functions.
  static constexpr std::string_view names[] = {
      "now", "statement_timestamp", "transaction_timestamp", "coalesce", "nullif", "greatest", "least", "cast",
      "array", "row", "extract", "lower", "upper", "concat", "to_char", "to_jsonb", "jsonb_build_object",
      "json_build_object", "varchar", "numeric", "decimal", "char", "character", "timestamp", "timestamptz", "time",
      "interval", "bit", "varbit", "float", "jsonb_build_array", "array_fill", "make_interval", "length"};
  return std::find(std::begin(names), std::end(names), f) != std::end(names);
}

inline bool is_serial(std::string_view t) {
  return t == "serial" || t == "bigserial" || t == "smallserial" || t == "serial2" || t == "serial4" ||
         t == "serial8";
}

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
    auto at = [&](std::size_t i) { return m.lines.at(st.begin + (i < tokens.size() ? tokens[i].offset : 0)); };
    Scan s{r, tokens, st.begin, m.lines, m.d.no_transaction, m.d.contract, server_version_, relations_, path_, m.out};
    Effect e;
    if (r.is(0, "create")) create(s);
    else if (r.is(0, "alter") && r.is(1, "table")) alter_table(m, s, at, e);
    else if (r.is(0, "alter") && r.is(1, "domain")) alter_domain(s);
    else if (r.is(0, "drop")) drop(s, e);
    else if (r.is(0, "reindex")) checks::rules::reindex_not_concurrent::detect(s);
    else if (r.is(0, "vacuum")) checks::rules::table_rewrite::vacuum(s, e);
    else if (r.is(0, "cluster")) checks::rules::table_rewrite::cluster(s, e);
    else if (r.is(0, "lock")) lock(m, r, e);
    else if (r.is(0, "truncate")) truncate(s, e);
    else if (r.is(0, "update")) e.long_work = !existing(r.name(r.is(1, "only") ? 2 : 1)).empty();
    else if (r.is(0, "delete")) e.long_work = !existing(r.name(r.is(2, "only") ? 3 : 2)).empty();
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

  template <class At>
  void add(Migration& m, At at, std::size_t token, std::string rule, std::string table, std::string what,
           std::string note = {}) {
    Hazard h;
    h.rule = std::move(rule);
    h.position = at(token);
    h.table = std::move(table);
    h.what = std::move(what);
    h.note = std::move(note);
    m.out.push_back(std::move(h));
  }

  void create(Scan& s) {
    const auto& r = s.r;
    std::size_t i = 1;
    if (r.is(i, "or") && r.is(i + 1, "replace")) i += 2;
    bool temp = false;
    while (r.is(i, "unique") || r.is(i, "temp") || r.is(i, "temporary") || r.is(i, "unlogged") ||
           r.is(i, "global") || r.is(i, "local")) {
      temp = temp || r.is(i, "temp") || r.is(i, "temporary");
      ++i;
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

  template <class At>
  void alter_table(Migration& m, Scan& s, At at, Effect& e) {
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
      // Old code cannot know the new name either.
      if (r.is(j, "to")) relations_.renamed(ref, r.name(j + 1).folded);
      return;
    }
    // Actions, comma-separated at depth 0.
    std::size_t from = table.next;
    while (from < r.size()) {
      const std::size_t end = r.find(from, r.size(), [](const sql::Token& t, std::size_t) { return t.is_punct(','); });
      action(m, s, at, e, table, ref.key, live, from, end);
      from = end + 1;
    }
  }

  template <class At>
  // `key`: the table as Relations resolves it (empty: not there), what the
  // SET NOT NULL proof is keyed by, like "created in this run".
  void action(Migration& m, Scan& s, At at, Effect& e, const detail::Name& table, const std::string& key,
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
        if (r.is(i, "check")) note_not_null_check(r, key, name, i + 1, end, !not_valid);
        if (r.is(i, "foreign")) {
          exclusive = false;  // SHARE ROW EXCLUSIVE on both tables
          if (!not_valid && !live.empty()) {
            const std::size_t ref = r.find(i, end, [](const sql::Token& tk, std::size_t) { return tk.is("references"); });
            add(m, at, a, "foreign_key_scan", live, "ADD FOREIGN KEY on " + live,
                ref < end ? "references " + r.name(ref + 1).text : std::string{});
          }
        } else if (r.is(i, "check")) {
          if (!not_valid && !live.empty()) add(m, at, a, "constraint_scan", live, "ADD CHECK on " + live);
        } else if (!r.has(i, end, "using", "index") && !live.empty()) {
          add(m, at, a, "unique_constraint_build", live,
              "ADD " + std::string{r.is(i, "exclude") ? "EXCLUDE" : r.is(i, "unique") ? "UNIQUE" : "PRIMARY KEY"} +
                  " on " + live,
              r.is(i, "exclude") ? "an exclusion constraint has no USING INDEX form" : "");
        }
      } else {
        if (r.is(i, "column")) ++i;
        i = r.skip_if_exists(i);
        add_column(m, s, at, t, live, i, end, a);
      }
    } else if (r.is(a, "alter")) {
      std::size_t i = a + 1;
      if (r.is(i, "column")) ++i;
      const auto column = r.name(i);
      std::size_t j = column.next;
      if (r.is(j, "set") && r.is(j + 1, "data")) j += 2;
      if (r.is(j, "type")) {
        const std::size_t type_from = j + 1;
        const std::size_t type_end = r.find(type_from, end, [](const sql::Token& tk, std::size_t) {
          return tk.is("collate") || tk.is("using");
        });
        checks::rules::json_column::column(s, type_from, column.text, t);
        if (!live.empty()) {
          Hazard h;
          h.rule = "type_change";
          h.position = at(a);
          h.table = live;
          h.what = "ALTER COLUMN " + column.text + " TYPE " + r.text(type_from, type_end) + " on " + live;
          h.column = column.folded;
          h.new_type = r.text(type_from, type_end);
          if (r.has(type_from, end, "using")) {
            h.note = "USING rewrites every row";
          } else {
            h.question = Question::type_rewrite;
            h.certain = false;
          }
          m.out.push_back(std::move(h));
        }
      } else if (r.is(j, "set") && r.is(j + 1, "not") && r.is(j + 2, "null")) {
        if (!live.empty() && !proven_not_null(key, column.folded)) {
          Hazard h;
          h.rule = "set_not_null";
          h.position = at(a);
          h.table = live;
          h.what = "ALTER COLUMN " + column.text + " SET NOT NULL on " + live;
          h.column = column.folded;
          if (server_version_ == 0 || server_version_ >= 120000) {
            h.question = Question::not_null_check;
            h.certain = false;
            if (auto v = validated_.find(key); v != validated_.end()) {
              for (const auto& name : v->second) {
                if (name.rfind('\x1f', 0) != 0) h.validated.push_back(name);
              }
            }
          }
          m.out.push_back(std::move(h));
        }
      } else if (r.is(j, "set") && r.is(j + 1, "statistics")) {
        exclusive = false;
      }
    } else if (r.is(a, "validate")) {
      exclusive = false;  // SHARE UPDATE EXCLUSIVE
      if (!key.empty()) validated_[key].insert(r.name(a + 2).folded);
      checks::rules::validate_same_transaction::detect(s, m.not_valid, e, live, a);
    } else if (r.is(a, "drop")) {
      std::size_t i = a + 1;
      if (r.is(i, "constraint")) {
        const auto name = r.name(r.skip_if_exists(i + 1));
        validated_[key].erase(name.folded);  // a check it drops proves nothing any more
        not_null_checks_.erase(key + '\x1f' + name.folded);
        return note_exclusive(e, live, exclusive);
      }
      if (r.is(i, "column")) ++i;
      i = r.skip_if_exists(i);
      checks::rules::drop_breaks_old_code::column(s, live, a, r.name(i));
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

  // ADD COLUMN name type [constraints]: i at the column name.
  template <class At>
  void add_column(Migration& m, Scan& s, At at, const std::string& t, const std::string& live, std::size_t i,
                  std::size_t end, std::size_t a) {
    const auto& r = s.r;
    const auto column = r.name(i);
    const std::size_t type_from = column.next;
    const sql::Token* type = r.at(type_from);
    if (type == nullptr) return;
    checks::rules::json_column::column(s, type_from, column.text, t);
    if (live.empty()) return;
    if (detail::is_serial(type->folded)) {
      add(m, at, a, "generated_column", live, "ADD COLUMN " + column.text + " " + type->text + " to " + live,
          type->text + " fills every row from a sequence");
    }
    const std::size_t generated = r.find(type_from, end, [](const sql::Token& tk, std::size_t) { return tk.is("generated"); });
    if (generated < end) {
      const bool identity = r.has(generated, end, "as", "identity");
      if (identity || r.has(generated, end, "stored"))
        add(m, at, a, "generated_column", live, "ADD COLUMN " + column.text + " GENERATED to " + live,
            identity ? "an identity column fills every row from a sequence" : "a stored generated column is computed for every row");
    }
    for (std::string_view kw : {"references", "unique", "primary", "check"}) {
      const std::size_t k = r.find(type_from, end, [&](const sql::Token& tk, std::size_t) { return tk.is(kw); });
      if (k >= end) continue;
      if (kw == "references")
        add(m, at, k, "foreign_key_scan", live, "ADD COLUMN " + column.text + " REFERENCES on " + live,
            "references " + r.name(k + 1).text);
      else if (kw == "check")
        add(m, at, k, "constraint_scan", live, "ADD COLUMN " + column.text + " CHECK on " + live);
      else
        add(m, at, k, "unique_constraint_build", live,
            "ADD COLUMN " + column.text + (kw == "unique" ? " UNIQUE" : " PRIMARY KEY") + " on " + live);
    }
    auto clause = [](const sql::Token& tk, std::size_t) {
      return tk.is("not") || tk.is("null") || tk.is("constraint") || tk.is("check") || tk.is("unique") ||
             tk.is("primary") || tk.is("references") || tk.is("generated") || tk.is("collate") || tk.is("default");
    };
    const std::size_t def = r.find(type_from, end, [](const sql::Token& tk, std::size_t) { return tk.is("default"); });
    const std::size_t def_end = def >= end ? end : r.find(def + 1, end, clause);
    const bool no_default = def >= end || def + 1 >= def_end || (r.is(def + 1, "null") && def + 2 == def_end);
    // Existing rows get the default, or NULL: NOT NULL (or PRIMARY KEY)
    // without one fails on a table with rows, unless the column fills itself
    // (serial, identity, generated) or its type is a domain with a default.
    if (no_default && !detail::is_serial(type->folded) && generated >= end &&
        (r.has(type_from, end, "not", "null") || r.has(type_from, end, "primary", "key"))) {
      Hazard h;
      h.rule = "not_null_without_default";
      h.position = at(a);
      h.table = live;
      h.what = "ADD COLUMN " + column.text + " NOT NULL without a DEFAULT to " + live;
      h.question = Question::has_rows;
      h.new_type = r.text(type_from, r.find(type_from, end, clause));
      h.certain = false;
      m.out.push_back(std::move(h));
    }
    if (no_default) return;
    Hazard h;
    h.rule = "volatile_default";
    h.position = at(a);
    h.table = live;
    h.what = "ADD COLUMN " + column.text + " DEFAULT " + r.text(def + 1, def_end) + " to " + live;
    if (server_version_ != 0 && server_version_ < 110000) {
      h.note = "before PostgreSQL 11 any default rewrites the table";
      m.out.push_back(std::move(h));
      return;
    }
    const auto calls = r.calls(def + 1, def_end);
    if (calls.empty()) return;  // a constant: stored once in the catalog (PostgreSQL 11+)
    const bool known = std::any_of(calls.begin(), calls.end(), detail::known_volatile);
    const bool harmless = std::all_of(calls.begin(), calls.end(), detail::known_not_volatile);
    if (harmless) return;
    h.functions = calls;
    h.question = Question::default_volatile;
    h.certain = known;
    m.out.push_back(std::move(h));
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

  // CHECK (col IS NOT NULL), with any parentheses around it: what makes a
  // later SET NOT NULL skip its scan once validated (PostgreSQL 12+).
  void note_not_null_check(const detail::Reader& r, const std::string& table, const std::string& name,
                           std::size_t from, std::size_t end, bool validated) {
    std::size_t open = 0;
    while (r.punct(from + open, '(')) ++open;
    const auto col = r.name(from + open);
    if (open == 0 || col.text.empty() || col.text.find('.') != std::string::npos || !r.is(col.next, "is") ||
        !r.is(col.next + 1, "not") || !r.is(col.next + 2, "null"))
      return;
    std::size_t k = col.next + 3;
    for (std::size_t c = 0; c < open; ++c, ++k) {
      if (!r.punct(k, ')')) return;
    }
    if (k < end && !r.is(k, "not") && !r.is(k, "no")) return;  // NOT VALID, NO INHERIT follow; anything else is more
    if (table.empty()) return;  // a table that is not there: nothing to prove
    // An unnamed one gets a key no constraint name has ("\x1f" first): it
    // cannot be named by a later VALIDATE, and it is never sent to the catalog.
    const std::string key = name.empty() ? "\x1f" + col.folded : name;
    not_null_checks_[table + '\x1f' + key] = col.folded;
    if (validated) validated_[table].insert(key);
  }

  // A check added in this run proves the column NOT NULL, and this run
  // validated it before the SET NOT NULL.
  [[nodiscard]] bool proven_not_null(const std::string& table, const std::string& column) const {
    const auto v = validated_.find(table);
    if (v == validated_.end()) return false;
    for (const auto& name : v->second) {
      const auto c = not_null_checks_.find(table + '\x1f' + name);
      if (c != not_null_checks_.end() && c->second == column) return true;
    }
    return false;
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
  // SET NOT NULL's proof, across the run: CHECK (col IS NOT NULL)s added
  // ("table\x1fconstraint" -> column) and the constraints validated, by
  // table (keyed as safety/relations.hpp resolves it, "schema.name"; added
  // valid, or VALIDATE CONSTRAINT).
  std::map<std::string, std::string> not_null_checks_;
  std::map<std::string, std::set<std::string>> validated_;
  Relations relations_;
  sql::SearchPath path_;  // the statement's search_path, as the file set it
};

}  // namespace lockstep::safety
