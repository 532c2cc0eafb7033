// What a lock rule's detection (checks/rules/<id>.hpp) is given for one
// statement by the shared statement reader (safety/analyze.hpp): its tokens,
// where each one is in the file, the migration's directives, the target's
// version, which tables were there before the run, and where its hazards go.
// (It holds the directives it needs, not sql::Directives: directives.hpp
// checks allow=<id> against checks/rules.hpp, which includes every rule.)
// The reader has done what the rules share (the relation resolution under
// the file's search_path, what the run creates, which lock a statement
// takes); a rule reads its own clause and says what it finds.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lockstep/safety/hazard.hpp"
#include "lockstep/safety/relations.hpp"
#include "lockstep/sql/reader.hpp"
#include "lockstep/sql/search_path.hpp"
#include "lockstep/sql/splitter.hpp"

namespace lockstep::safety {

// What one statement did, for the rules that look across statements
// (lock_held_across_statements).
struct Effect {
  std::string exclusive_table;  // took ACCESS EXCLUSIVE on this existing table
  bool long_work = false;       // a sized hazard, or a backfill (UPDATE/DELETE) of an existing table
  int sized_hazard = -1;        // the sized hazard that makes it long work, if one does
  std::string kind;             // the statement's first word, for messages
  std::string held_reported;    // a finding of its own already says it runs under this table's held lock
};

// ADD [COLUMN] name type [constraints] of an ALTER TABLE, as the shared
// statement reader splits it for the rules that read a new column (each
// reads its own clause): tokens [type, end) of the statement.
struct ColumnDef {
  sql::Name name;
  std::size_t action = 0;    // the ADD
  std::size_t type = 0;      // the type's first token
  std::size_t type_end = 0;  // the first constraint keyword after the type, or `end`
  std::size_t end = 0;       // the end of the action (a ',' at depth 0, or the statement's end)
  std::size_t default_at = 0;   // the DEFAULT keyword, or `end` when there is none
  std::size_t default_end = 0;  // the end of its expression
  bool no_default = true;       // no DEFAULT, an empty one, or DEFAULT NULL: existing rows get NULL
};

// A keyword that starts a column constraint: where a column's type, or its
// DEFAULT expression, ends.
inline bool column_clause(const sql::Token& t, std::size_t = 0) {
  return t.is("not") || t.is("null") || t.is("constraint") || t.is("check") || t.is("unique") || t.is("primary") ||
         t.is("references") || t.is("generated") || t.is("collate") || t.is("default");
}

class Scan {
 public:
  // `no_transaction`, `contract`, `background`: the migration's directives.
  Scan(const sql::Reader& reader, const std::vector<sql::Token>& tokens, std::size_t begin, const sql::LineIndex& lines,
       bool is_no_transaction, bool is_contract, bool is_background, int version, Relations& relations,
       const sql::SearchPath& path, std::vector<Hazard>& out)
      : r{reader}, no_transaction{is_no_transaction}, contract{is_contract}, background{is_background},
        server_version{version}, tokens_{tokens},
        begin_{begin}, lines_{lines}, relations_{relations}, path_{path}, out_{out} {}

  const sql::Reader& r;       // the statement's tokens
  const bool no_transaction;  // each statement commits on its own (-- lockstep:no-transaction)
  const bool contract;        // -- lockstep:phase=contract: no replica runs the old code any more
  const bool background;      // -- lockstep:background: its statements run batch by batch, after the boot
  const int server_version;   // PG_VERSION_NUM of the target; 0: unknown (the current major assumed)

  // Where token `i` is in the file.
  [[nodiscard]] sql::Position at(std::size_t i) const {
    return lines_.at(begin_ + (i < tokens_.size() ? tokens_[i].offset : 0));
  }

  // The name when it is a table that existed before this run, else "".
  [[nodiscard]] std::string existing(const sql::Name& n) {
    if (n.text.empty()) return {};
    const auto ref = relations_.find(n, path_);
    return ref.is_new ? std::string{} : ref.relation;
  }

  // A hazard at token `i`, for the caller to fill in further.
  Hazard& add(std::size_t i, std::string_view rule, std::string table, std::string what, std::string note = {}) {
    Hazard h;
    h.rule = std::string{rule};
    h.position = at(i);
    h.table = std::move(table);
    h.what = std::move(what);
    h.note = std::move(note);
    out_.push_back(std::move(h));
    return out_.back();
  }

  // The hazards so far, in statement order.
  [[nodiscard]] std::vector<Hazard>& hazards() { return out_; }

 private:
  const std::vector<sql::Token>& tokens_;
  std::size_t begin_;
  const sql::LineIndex& lines_;
  Relations& relations_;
  const sql::SearchPath& path_;
  std::vector<Hazard>& out_;
};

// What the catalog said about one hazard: the rule's question answered
// (checks/rules/<id>.hpp asks it; safety/judge.hpp applies it).
struct Answer {
  bool dismissed = false;  // nothing happens after all: no finding
  bool certain = false;    // the catalog settled what the text could not
  bool fails = false;      // the statement fails at deploy: an error whatever the size
  std::string why;         // replaces the hazard's note when not empty
  std::string instead;     // replaces the safe alternative when not empty
};

}  // namespace lockstep::safety
