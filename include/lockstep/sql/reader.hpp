// Token-level reading of one statement: keywords, possibly qualified names,
// IF [NOT] EXISTS, balanced parentheses. Shared by the lock-safety analyzer
// (safety/analyze.hpp) and the concurrent index builds reader
// (sql/index_builds.hpp), so both read a name, a quoted identifier or a
// comment between words the same way.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lockstep/sql/lexer.hpp"

namespace lockstep::sql {

// A name as written ("a"."B" kept quoted) and its last part as the catalog spells it.
struct Name {
  std::string text, folded;
  std::string schema;    // the part before the last, as the catalog spells it; empty: unqualified
  std::size_t next = 0;  // token after it
};

class Reader {
 public:
  Reader(const std::vector<Token>& t, std::string_view stmt) : t_{t}, s_{stmt} {}
  [[nodiscard]] const Token* at(std::size_t i) const { return i < t_.size() ? &t_[i] : nullptr; }
  [[nodiscard]] bool is(std::size_t i, std::string_view kw) const { return i < t_.size() && t_[i].is(kw); }
  [[nodiscard]] bool punct(std::size_t i, char c) const { return i < t_.size() && t_[i].is_punct(c); }
  [[nodiscard]] std::size_t size() const { return t_.size(); }
  // Skips IF [NOT] EXISTS.
  [[nodiscard]] std::size_t skip_if_exists(std::size_t i) const {
    if (is(i, "if") && is(i + 1, "not") && is(i + 2, "exists")) return i + 3;
    if (is(i, "if") && is(i + 1, "exists")) return i + 2;
    return i;
  }
  [[nodiscard]] Name name(std::size_t i) const {
    Name n;
    n.next = i;
    if (i >= t_.size() || !t_[i].is_name()) return n;
    n.text = t_[i].text;
    n.folded = t_[i].folded;
    n.next = i + 1;
    while (punct(n.next, '.') && n.next + 1 < t_.size() && t_[n.next + 1].is_name()) {
      n.text += "." + t_[n.next + 1].text;
      n.schema = n.folded;
      n.folded = t_[n.next + 1].folded;
      n.next += 2;
    }
    return n;
  }
  // Index of the first token at depth 0 in [from, to) for which pred holds, or `to`.
  template <class Pred>
  [[nodiscard]] std::size_t find(std::size_t from, std::size_t to, Pred pred) const {
    int depth = 0;
    for (std::size_t i = from; i < to; ++i) {
      if (t_[i].is_punct('(') || t_[i].is_punct('[')) ++depth;
      else if (t_[i].is_punct(')') || t_[i].is_punct(']')) --depth;
      else if (depth == 0 && pred(t_[i], i)) return i;
    }
    return to;
  }
  // The token after the ')' that closes the '(' at `open`.
  [[nodiscard]] std::size_t after_parens(std::size_t open) const {
    int depth = 0;
    for (std::size_t i = open; i < t_.size(); ++i) {
      if (t_[i].is_punct('(')) ++depth;
      else if (t_[i].is_punct(')') && --depth == 0) return i + 1;
    }
    return t_.size();
  }
  [[nodiscard]] bool has(std::size_t from, std::size_t to, std::string_view a, std::string_view b = {}) const {
    return find(from, to, [&](const Token&, std::size_t i) { return is(i, a) && (b.empty() || is(i + 1, b)); }) < to;
  }
  // Text from token `from` to the end of token `to - 1`, as written.
  [[nodiscard]] std::string text(std::size_t from, std::size_t to) const {
    if (from >= to || to > t_.size()) return {};
    const auto b = t_[from].offset;
    const auto e = t_[to - 1].offset + t_[to - 1].text.size();
    return std::string{s_.substr(b, e - b)};
  }
  // A parenthesised option list, `( name [value] [, ...] )` as REINDEX,
  // VACUUM, ANALYZE, CLUSTER and EXPLAIN take it, at the '(' at `open`.
  struct Options {
    std::vector<std::pair<std::string, std::string>> given;  // folded name, value as written ("" when none)
    std::size_t next = 0;                                    // token after the ')'
    // A boolean option is on when named with no value or a true one
    // (PostgreSQL's defGetBoolean: true/on/1; false/off/0 turn it off).
    [[nodiscard]] bool on(std::string_view option) const {
      for (const auto& [name, value] : given) {
        if (name != option) continue;
        std::string v = value;
        for (auto& c : v) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        return v != "false" && v != "off" && v != "0";
      }
      return false;
    }
  };
  [[nodiscard]] Options options(std::size_t open) const {
    Options o;
    o.next = after_parens(open);
    const std::size_t close = o.next - 1;
    for (std::size_t i = open + 1; i < close;) {
      const std::size_t end = find(i, close, [](const Token& t, std::size_t) { return t.is_punct(','); });
      if (i < end && t_[i].is_name()) o.given.emplace_back(t_[i].folded, i + 1 < end ? text(i + 1, end) : std::string{});
      i = end + 1;
    }
    return o;
  }
  // Functions called in [from, to): a name followed by '('.
  [[nodiscard]] std::vector<std::string> calls(std::size_t from, std::size_t to) const {
    std::vector<std::string> out;
    for (std::size_t i = from; i + 1 < to; ++i) {
      if (t_[i].is_name() && t_[i + 1].is_punct('(')) out.push_back(t_[i].folded);
    }
    return out;
  }

 private:
  const std::vector<Token>& t_;
  std::string_view s_;
};

}  // namespace lockstep::sql
