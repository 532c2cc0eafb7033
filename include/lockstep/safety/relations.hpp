// Which relations (tables, indexes, views) a run creates, keyed by their
// schema-qualified name as the server resolves it: what lets the lock-safety
// rules leave alone a table that is new (nobody can be waiting on it yet),
// and only that table.
//
// Two mistakes this keying prevents (issue 31, case 10): `CREATE TABLE
// audit.big` must not make `public.big` new, and `CREATE TABLE IF NOT EXISTS
// big` creates nothing when big exists, so an index built on big afterwards
// blocks the live table. An unqualified name is resolved under the
// search_path the file set before the statement (sql/search_path.hpp), the
// way the server does: the temporary schema, pg_catalog, then each schema of
// the path that exists and may be used; "$user" is the role lockstep
// connects as. A CREATE goes to the first schema of the path that exists.
//
// With a connection (pre-flight) the catalog says which schemas and
// relations exist; schemas created earlier in the run count as existing.
// Offline (`lockstep lint`) nothing can be asked: the session's path is
// taken as PostgreSQL's default ("$user", public, with no schema named like
// the role), every schema a path names as existing, every table the text
// does not create as existing, and `IF NOT EXISTS` as creating (the catalog
// decides at pre-flight).
#pragma once

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "lockstep/connection.hpp"
#include "lockstep/error.hpp"
#include "lockstep/sql/reader.hpp"
#include "lockstep/sql/search_path.hpp"

namespace lockstep::safety {

namespace detail {

// A name part as to_regclass() reads it: quoted unless it is a plain lower-case word.
inline std::string ident(const std::string& s) {
  bool plain = !s.empty() && ((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_');
  for (char c : s) plain = plain && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '$');
  if (plain) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string{"\"\""} : std::string(1, c);
  return out + "\"";
}

}  // namespace detail

class Relations {
 public:
  // `conn`: null offline.
  explicit Relations(Connection* conn = nullptr) : conn_{conn} {}

  struct Ref {
    std::string key;       // "schema.name" as the catalog spells both parts; empty: cannot tell
    std::string relation;  // for messages and to_regclass(): as written, or schema-qualified when resolved
    bool is_new = true;    // created in this run, or not there at all: nobody waits on it
  };

  // The relation `n` means under `path`.
  [[nodiscard]] Ref find(const sql::Name& n, const sql::SearchPath& path) {
    Ref out;
    if (n.folded.empty()) return out;
    if (!n.schema.empty()) {
      out.key = n.schema + "." + n.folded;
      out.relation = n.text;
      out.is_new = created_.count(out.key) != 0 || dropped_.count(out.key) != 0 || !exists(n.schema, n.folded);
      return out;
    }
    for (const auto& s : lookup_path(path)) {
      const std::string key = s + "." + n.folded;
      if (created_.count(key) != 0) return Ref{key, display(s, n.folded, n.text), true};
      if (dropped_.count(key) != 0) continue;
      if (conn_ != nullptr && exists(s, n.folded)) return Ref{key, display(s, n.folded, n.text), false};
    }
    if (conn_ != nullptr) return Ref{{}, n.text, true};  // in no schema on the path: not there (yet)
    const std::string s = creation_schema(path);
    return Ref{s + "." + n.folded, n.text, false};
  }

  // CREATE of `n` (a table, view, sequence) under `path`; `temp`: a
  // temporary table. Returns whether it creates a relation: false when
  // IF NOT EXISTS finds one already there.
  bool create(const sql::Name& n, const sql::SearchPath& path, bool if_not_exists, bool temp = false) {
    if (n.folded.empty()) return false;
    const std::string schema = temp ? std::string{"pg_temp"} : !n.schema.empty() ? n.schema : creation_schema(path);
    return create_in(schema, n.folded, if_not_exists);
  }

  // CREATE INDEX name ON table: the index goes to its table's schema.
  bool create_in(const std::string& schema, const std::string& name, bool if_not_exists) {
    const std::string key = schema + "." + name;
    const bool there = created_.count(key) != 0 || (dropped_.count(key) == 0 && conn_ != nullptr && exists(schema, name));
    if (if_not_exists && there) return false;
    created_.insert(key);
    dropped_.erase(key);
    return true;
  }

  // RENAME TO: the new name is new to the code of older replicas.
  void renamed(const Ref& from, const std::string& to) {
    if (from.key.empty()) return;
    const std::string schema = from.key.substr(0, from.key.rfind('.'));
    created_.erase(from.key);
    dropped_.insert(from.key);
    created_.insert(schema + "." + to);
  }

  void drop(const Ref& r) {
    if (r.key.empty()) return;
    created_.erase(r.key);
    dropped_.insert(r.key);
  }

  void create_schema(const std::string& folded) { schemas_created_.insert(folded); }

  // The first catalog error (a lost connection), if any: the lookups that
  // failed answered "not there".
  [[nodiscard]] const std::optional<Error>& error() const { return error_; }

 private:
  [[nodiscard]] static std::string display(const std::string& schema, const std::string& name, const std::string& written) {
    if (schema == "pg_temp") return written;
    return detail::ident(schema) + "." + detail::ident(name);
  }

  // The schemas of `path` that exist, in order ("$user" and pg_temp as
  // the server expands them), without the implicit ones.
  [[nodiscard]] std::vector<std::string> existing_schemas(const sql::SearchPath& path) {
    if (conn_ == nullptr) {
      std::vector<std::string> out;
      for (const auto& s : path ? *path : std::vector<std::string>{"$user", "public"}) {
        if (s != "$user" || schemas_created_.count(s) != 0) out.push_back(s);
      }
      return out;
    }
    const std::vector<std::string>& list = path ? *path : session_path();
    const std::string key = sql::search_path_array(list);
    if (auto it = expanded_.find(key); it != expanded_.end()) return with_created(list, it->second);
    std::vector<std::string> found(list.size());
    auto rows = conn_->query(
        "SELECT coalesce(n.nspname::text, '') FROM unnest($1::text[]) WITH ORDINALITY AS p(name, ord) "
        "LEFT JOIN pg_namespace n ON n.nspname = CASE p.name WHEN '$user' THEN current_user::text ELSE p.name END "
        "AND has_schema_privilege(n.oid, 'USAGE') ORDER BY p.ord",
        key);
    if (!rows) note(std::move(rows).error());
    else
      for (std::size_t i = 0; i < rows.value().size() && i < found.size(); ++i) found[i] = rows.value()[i][0].value_or("");
    expanded_.emplace(key, found);
    return with_created(list, found);
  }

  // `found` (the catalog's answer per element of `list`) with the schemas
  // this run created.
  [[nodiscard]] std::vector<std::string> with_created(const std::vector<std::string>& list,
                                                      const std::vector<std::string>& found) const {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < list.size(); ++i) {
      if (list[i] == "pg_temp") out.push_back("pg_temp");
      else if (!found[i].empty()) out.push_back(found[i]);
      else if (list[i] != "$user" && schemas_created_.count(list[i]) != 0) out.push_back(list[i]);
    }
    return out;
  }

  // Where an unqualified name is looked for, in order.
  [[nodiscard]] std::vector<std::string> lookup_path(const sql::SearchPath& path) {
    const auto listed = existing_schemas(path);
    std::vector<std::string> out;
    auto has = [&](const char* s) { return std::find(listed.begin(), listed.end(), s) != listed.end(); };
    if (!has("pg_temp")) out.emplace_back("pg_temp");
    if (!has("pg_catalog")) out.emplace_back("pg_catalog");
    out.insert(out.end(), listed.begin(), listed.end());
    return out;
  }

  // Where an unqualified CREATE puts its relation: the first schema of the
  // path that exists (the server refuses the CREATE when none does).
  [[nodiscard]] std::string creation_schema(const sql::SearchPath& path) {
    const auto listed = existing_schemas(path);
    if (!listed.empty()) return listed.front();
    return path && !path->empty() ? path->front() : std::string{"public"};
  }

  [[nodiscard]] const std::vector<std::string>& session_path() {
    if (!session_path_) {
      auto rows = conn_->query("SELECT current_setting('search_path')");
      if (!rows) note(std::move(rows).error());
      session_path_ = sql::split_search_path(rows && !rows.value().empty() ? rows.value()[0][0].value_or("") : "");
    }
    return *session_path_;
  }

  // Whether schema.name is in the catalog (offline: assumed so).
  [[nodiscard]] bool exists(const std::string& schema, const std::string& name) {
    if (conn_ == nullptr) return true;
    const std::string key = schema + "." + name;
    if (auto it = exists_.find(key); it != exists_.end()) return it->second;
    auto rows = conn_->query("SELECT to_regclass($1) IS NOT NULL", detail::ident(schema) + "." + detail::ident(name));
    bool there = false;
    if (!rows) note(std::move(rows).error());
    else there = !rows.value().empty() && rows.value()[0][0].value_or("f") == "t";
    exists_.emplace(key, there);
    return there;
  }

  void note(Error e) {
    if (!error_) error_ = std::move(e);
  }

  Connection* conn_;
  std::set<std::string> created_, dropped_;  // keys, in this run
  std::set<std::string> schemas_created_;
  std::map<std::string, std::vector<std::string>> expanded_;  // path array -> catalog answer per element
  std::map<std::string, bool> exists_;
  std::optional<std::vector<std::string>> session_path_;
  std::optional<Error> error_;
};

}  // namespace lockstep::safety
