// Splits a migration file into statements exactly where PostgreSQL would.
//
// PostgreSQL runs a multi-statement string as one implicit transaction, so
// statements such as CREATE INDEX CONCURRENTLY must be sent alone, and that
// needs boundaries that respect the lexer: '...' with '', E'...' with
// backslash escapes, U&'...', U&"...", B'', X'', N'', "quoted;identifiers",
// $$...$$ and $tag$...$tag$ (other tags inside are plain text), -- comments,
// nested /* /* */ */ comments, parentheses (CREATE RULE ... DO (a; b)) and
// SQL-standard bodies BEGIN ATOMIC ... END. standard_conforming_strings is
// assumed on (the default since PostgreSQL 9.1).
//
// psql syntax is not SQL: a backslash outside a literal (\set, \gset, \copy)
// and COPY ... FROM stdin (whose data only psql can stream) are errors with
// their position. So is anything left unterminated, reported where it opens.
// Boundaries are checked against PostgreSQL's own parser (libpg_query) in
// tests/differential and by a fuzzer.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "lockstep/error.hpp"

namespace lockstep::sql {

struct Position {
  int line = 1;    // 1-based
  int column = 1;  // 1-based, in bytes
};

// Maps byte offsets to line/column.
class LineIndex {
 public:
  explicit LineIndex(std::string_view text) {
    starts_.push_back(0);
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\n') starts_.push_back(i + 1);
    }
  }
  [[nodiscard]] Position at(std::size_t offset) const {
    const auto it = std::upper_bound(starts_.begin(), starts_.end(), offset);
    const auto line = static_cast<std::size_t>(it - starts_.begin());
    return Position{static_cast<int>(line), static_cast<int>(offset - starts_[line - 1]) + 1};
  }

 private:
  std::vector<std::size_t> starts_;
};

struct Statement {
  std::size_t begin = 0;       // first byte of the first token
  std::size_t end = 0;         // one past the last token (trailing comments excluded)
  std::size_t terminator = 0;  // offset of the ending ';', or the input size if none
  Position position;           // of `begin`

  [[nodiscard]] std::string_view text(std::string_view sql) const { return sql.substr(begin, end - begin); }
};

namespace detail {

inline bool ident_start(unsigned char c) noexcept { return std::isalpha(c) != 0 || c == '_' || c >= 0x80; }
inline bool ident_cont(unsigned char c) noexcept { return ident_start(c) || std::isdigit(c) != 0 || c == '$'; }
inline bool space(unsigned char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

inline bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

inline std::string upper(std::string_view s) {
  std::string out{s};
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

class Splitter {
 public:
  explicit Splitter(std::string_view sql) : s_{sql}, lines_{sql} {}

  result<std::vector<Statement>> run() {
    while (i_ < s_.size()) {
      const auto c = static_cast<unsigned char>(s_[i_]);
      if (space(c)) {
        ++i_;
        continue;
      }
      if (c == '-' && peek(1) == '-') {
        skip_line_comment();
        continue;
      }
      if (c == '/' && peek(1) == '*') {
        LOCKSTEP_TRYV(skip_block_comment());
        continue;
      }
      if (c == ';' && paren_ == 0 && begin_depth_ == 0) {
        LOCKSTEP_TRYV(finish(i_));
        ++i_;
        continue;
      }
      if (c == '\\') {
        return fail(i_, "a backslash outside a string literal: this is psql syntax (a meta-command such as \\set, "
                        "\\gset or \\copy), not SQL; lockstep sends files to the server as they are, so remove it");
      }
      // Whatever is not a word ends a routine body's statement start, except
      // the ';' that begins the next one.
      if (!ident_start(c)) body_start_ = c == ';' && paren_ == 0 && begin_depth_ > 0;
      LOCKSTEP_TRYV(token(c));
      current_.end = i_;  // the statement ends with its last token, not with trailing comments
    }
    LOCKSTEP_TRYV(finish(s_.size()));
    return std::move(out_);
  }

  result<void> token(unsigned char c) {
    if (c == '\'') {
      LOCKSTEP_TRY(end, quoted(i_, '\'', false, "string literal"));
      note_token(i_, "'");
      i_ = end;
    } else if (c == '"') {
      LOCKSTEP_TRY(end, quoted(i_, '"', false, "quoted identifier"));
      note_token(i_, "\"");
      i_ = end;
    } else if (c == '$') {
      LOCKSTEP_TRYV(dollar());
    } else if (ident_start(c)) {
      LOCKSTEP_TRYV(word());
    } else if (std::isdigit(c) != 0 || (c == '.' && std::isdigit(static_cast<unsigned char>(peek(1))) != 0)) {
      note_token(i_, "0");
      number();
    } else {
      if (c == '(') ++paren_;
      if (c == ')' && paren_ > 0) --paren_;
      note_token(i_, std::string(1, static_cast<char>(c)));
      ++i_;
    }
    return outcome::success();
  }

  // PostgreSQL 15's numbers: digits, an optional fraction, and an exponent
  // only when a digit follows it. Anything after is a new token, which
  // matters: in 1e'x' the e'x' is an E-string.
  void number() {
    auto digits = [&] {
      while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_])) != 0) ++i_;
    };
    digits();
    if (i_ < s_.size() && s_[i_] == '.' && peek(1) != '.') {
      ++i_;
      digits();
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      const std::size_t sign = (peek(1) == '+' || peek(1) == '-') ? 1 : 0;
      if (std::isdigit(static_cast<unsigned char>(peek(1 + sign))) != 0) {
        i_ += 1 + sign;
        digits();
      }
    }
  }

  [[nodiscard]] char peek(std::size_t k) const noexcept { return i_ + k < s_.size() ? s_[i_ + k] : '\0'; }

  [[nodiscard]] Error fail(std::size_t at, std::string what) const {
    const auto p = lines_.at(at);
    auto e = make_error(errc::source_invalid, std::move(what));
    e.line = p.line;
    e.column = p.column;
    return e;
  }

  // Comment ends, defined once for the scan and for next_word(): a --
  // comment runs to the end of the line (PostgreSQL ends lines at \n or \r);
  // /* */ comments nest. block_comment_end() is npos when unterminated.
  [[nodiscard]] std::size_t line_comment_end(std::size_t j) const noexcept {
    while (j < s_.size() && s_[j] != '\n' && s_[j] != '\r') ++j;
    return j;
  }
  [[nodiscard]] std::size_t block_comment_end(std::size_t j) const noexcept {
    int depth = 0;
    while (j < s_.size()) {
      if (s_[j] == '/' && j + 1 < s_.size() && s_[j + 1] == '*') {
        ++depth;
        j += 2;
      } else if (s_[j] == '*' && j + 1 < s_.size() && s_[j + 1] == '/') {
        j += 2;
        if (--depth == 0) return j;
      } else {
        ++j;
      }
    }
    return std::string_view::npos;
  }

  void skip_line_comment() { i_ = line_comment_end(i_); }

  result<void> skip_block_comment() {
    const std::size_t end = block_comment_end(i_);
    if (end == std::string_view::npos) {
      return fail(i_, "unterminated /* comment (comments nest in PostgreSQL: every /* needs its own */)");
    }
    i_ = end;
    return outcome::success();
  }

  // A quoted run starting at `from` (the opening quote). A doubled quote is an
  // escaped quote; with `backslashes`, so is \<quote> (E'' strings).
  result<std::size_t> quoted(std::size_t from, char q, bool backslashes, const char* what) {
    std::size_t j = from + 1;
    while (j < s_.size()) {
      if (backslashes && s_[j] == '\\') {
        j += 2;
        continue;
      }
      if (s_[j] == q) {
        if (j + 1 < s_.size() && s_[j + 1] == q) {
          j += 2;
          continue;
        }
        return j + 1;
      }
      ++j;
    }
    return fail(from, std::string{"unterminated "} + what + " (opened here)");
  }

  result<void> dollar() {
    // $tag$ or $$ opens a dollar quote; $1 is a parameter; anything else is an operator char.
    std::size_t j = i_ + 1;
    if (j < s_.size() && s_[j] != '$') {
      if (!ident_start(static_cast<unsigned char>(s_[j])) || std::isdigit(static_cast<unsigned char>(s_[j])) != 0) {
        const std::size_t from = i_;
        ++i_;
        while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_])) != 0) ++i_;
        note_token(from, "$");
        return outcome::success();
      }
      while (j < s_.size() && ident_cont(static_cast<unsigned char>(s_[j])) && s_[j] != '$') ++j;
      if (j >= s_.size() || s_[j] != '$') {
        note_token(i_, "$");
        ++i_;
        return outcome::success();
      }
    }
    if (j >= s_.size()) {
      note_token(i_, "$");
      ++i_;
      return outcome::success();
    }
    const std::string_view delim = s_.substr(i_, j - i_ + 1);
    const auto close = s_.find(delim, j + 1);
    if (close == std::string_view::npos) {
      return fail(i_, "unterminated dollar-quoted string: no closing " + std::string{delim} + " (opened here)");
    }
    note_token(i_, "'");
    i_ = close + delim.size();
    return outcome::success();
  }

  result<void> word() {
    const std::size_t from = i_;
    while (i_ < s_.size() && ident_cont(static_cast<unsigned char>(s_[i_]))) ++i_;
    const std::string_view w = s_.substr(from, i_ - from);
    const char next = i_ < s_.size() ? s_[i_] : '\0';
    // Literal prefixes only count directly before the quote: E'..', U&'..', B'', X'', N''.
    if (next == '\'' && (iequals(w, "e"))) {
      LOCKSTEP_TRY(end, quoted(i_, '\'', true, "string literal"));
      note_token(from, "'");
      i_ = end;
      return outcome::success();
    }
    if (next == '\'' && (iequals(w, "b") || iequals(w, "x") || iequals(w, "n"))) {
      LOCKSTEP_TRY(end, quoted(i_, '\'', false, "string literal"));
      note_token(from, "'");
      i_ = end;
      return outcome::success();
    }
    if (iequals(w, "u") && next == '&' && i_ + 1 < s_.size() && (s_[i_ + 1] == '\'' || s_[i_ + 1] == '"')) {
      const char q = s_[i_ + 1];
      LOCKSTEP_TRY(end, quoted(i_ + 1, q, false, q == '\'' ? "string literal" : "quoted identifier"));
      note_token(from, q == '\'' ? "'" : "\"");
      i_ = end;
      return outcome::success();
    }
    note_token(from, upper(w));
    track_routine_body(w);
    return outcome::success();
  }

  // psql's heuristic for SQL-standard bodies, made exact for BEGIN: inside
  // CREATE [OR REPLACE] {FUNCTION|PROCEDURE}, BEGIN ATOMIC opens a body that
  // only its END closes (CASE ... END nests inside it). An END is the body's
  // only where a body statement could start (right after ATOMIC or a ';'):
  // anywhere else, with no CASE open, it is a column label without AS
  // (`SELECT 1 END` is `SELECT 1 AS "end"`; the fuzzer found it).
  void track_routine_body(std::string_view w) {
    if (ident_count_ < 4) {
      char tag = 0;
      if (iequals(w, "create")) tag = 'c';
      else if (iequals(w, "or")) tag = 'o';
      else if (iequals(w, "replace")) tag = 'r';
      else if (iequals(w, "function")) tag = 'f';
      else if (iequals(w, "procedure")) tag = 'p';
      idents_[ident_count_] = tag;
    }
    ++ident_count_;
    const bool routine = idents_[0] == 'c' && (idents_[1] == 'f' || idents_[1] == 'p' ||
                                               (idents_[1] == 'o' && idents_[2] == 'r' &&
                                                (idents_[3] == 'f' || idents_[3] == 'p')));
    const bool at_body_start = body_start_;
    body_start_ = false;
    if (!routine || paren_ != 0) return;
    if (iequals(w, "begin") && iequals(next_word(), "atomic")) {
      ++begin_depth_;
      atomic_next_ = true;
    } else if (atomic_next_) {  // the ATOMIC itself: the body starts after it
      atomic_next_ = false;
      body_start_ = true;
    } else if (iequals(w, "case") && begin_depth_ > 0 && !label_follows()) {
      ++case_depth_;
    } else if (iequals(w, "end") && case_depth_ > 0) {
      --case_depth_;
    } else if (iequals(w, "end") && begin_depth_ > 0 && at_body_start) {
      --begin_depth_;
    }
  }

  // After a CASE: what ends a select list, so this CASE is a column label
  // without AS (`SELECT 1 case;`), not a CASE expression, which goes on
  // with WHEN or an operand.
  [[nodiscard]] bool label_follows() const {
    const std::size_t j = next_significant();
    if (j >= s_.size()) return true;
    if (s_[j] == ',' || s_[j] == ';' || s_[j] == ')') return true;
    const std::string_view w = next_word();
    for (const char* k : {"from", "into", "where", "group", "having", "window", "order", "limit", "offset", "fetch",
                          "for", "union", "intersect", "except", "returning"}) {
      if (iequals(w, k)) return true;
    }
    return false;
  }

  [[nodiscard]] std::size_t next_significant() const {
    std::size_t j = i_;
    for (;;) {
      while (j < s_.size() && space(static_cast<unsigned char>(s_[j]))) ++j;
      if (j + 1 < s_.size() && s_[j] == '-' && s_[j + 1] == '-') {
        j = line_comment_end(j);
      } else if (j + 1 < s_.size() && s_[j] == '/' && s_[j + 1] == '*') {
        j = std::min(block_comment_end(j), s_.size());
      } else {
        return j;
      }
    }
  }

  [[nodiscard]] std::string_view next_word() const {
    std::size_t j = next_significant();
    const std::size_t from = j;
    while (j < s_.size() && ident_cont(static_cast<unsigned char>(s_[j]))) ++j;
    return s_.substr(from, j - from);
  }

  void note_token(std::size_t from, std::string kind) {
    if (!in_statement_) {
      in_statement_ = true;
      current_ = Statement{};
      head_.clear();
      current_.begin = from;
      current_.position = lines_.at(from);
    }
    if (head_.size() < 32) head_.push_back(std::move(kind));
  }

  result<void> finish(std::size_t terminator) {
    if (!in_statement_) return outcome::success();  // empty statement (";;" or comments only)
    current_.terminator = terminator;
    const auto& t = head_;
    if (!t.empty() && t[0] == "COPY") {
      for (std::size_t k = 1; k + 1 < t.size(); ++k) {
        if (t[k] == "FROM" && (t[k + 1] == "STDIN")) {
          return fail(current_.begin, "COPY ... FROM stdin needs psql to stream the data that follows it; "
                                      "use INSERT statements, or COPY from a file the server can read");
        }
      }
    }
    out_.push_back(std::move(current_));
    head_.clear();
    in_statement_ = false;
    ident_count_ = 0;
    idents_[0] = idents_[1] = idents_[2] = idents_[3] = 0;
    case_depth_ = 0;
    atomic_next_ = body_start_ = false;
    return outcome::success();
  }

  std::string_view s_;
  LineIndex lines_;
  std::size_t i_ = 0;
  int paren_ = 0;
  int begin_depth_ = 0;  // open BEGIN ATOMIC bodies: their ';' ends no statement
  int case_depth_ = 0;   // CASE expressions open inside them
  bool atomic_next_ = false;  // BEGIN seen; its ATOMIC is the next word
  bool body_start_ = false;   // a routine body's statement may start here
  char idents_[4] = {0, 0, 0, 0};
  std::size_t ident_count_ = 0;
  bool in_statement_ = false;
  Statement current_;
  // The statement's leading tokens, upper-cased, for the COPY FROM STDIN
  // check alone (the rules read the lexer's tokens: checks/words.hpp).
  std::vector<std::string> head_;
  std::vector<Statement> out_;
};

}  // namespace detail

// Statements in order. Empty statements (";;", comment-only files) yield none.
[[nodiscard]] inline result<std::vector<Statement>> split(std::string_view sql) {
  return detail::Splitter{sql}.run();
}

}  // namespace lockstep::sql
