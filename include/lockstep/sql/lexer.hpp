// Every token of one statement, with where it starts: what the lock-safety
// rules read (safety/analyze.hpp). The splitter has already checked that the
// statement is well formed, so this lexer only has to agree with it on what
// is a word, a literal or a comment; it never fails.
#pragma once

#include <cctype>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "lockstep/sql/splitter.hpp"

namespace lockstep::sql {

struct Token {
  enum class Kind { word, quoted, literal, number, punct };
  Kind kind = Kind::punct;
  std::string text;    // as written
  std::string folded;  // words: lower case; quoted identifiers: unquoted; else as written
  std::size_t offset = 0;  // in the statement's text

  // An unquoted keyword (case-insensitive); a quoted identifier never is one.
  [[nodiscard]] bool is(std::string_view keyword) const { return kind == Kind::word && folded == keyword; }
  [[nodiscard]] bool is_name() const { return kind == Kind::word || kind == Kind::quoted; }
  [[nodiscard]] bool is_punct(char c) const { return kind == Kind::punct && text.size() == 1 && text[0] == c; }
};

namespace detail {

inline std::size_t dollar_tag_end(std::string_view s, std::size_t i) {
  // $tag$ where tag is empty or an identifier; i at the first '$'.
  std::size_t j = i + 1;
  if (j < s.size() && s[j] == '$') return j + 1;
  if (j >= s.size() || !ident_start(static_cast<unsigned char>(s[j]))) return std::string_view::npos;
  while (j < s.size() && ident_cont(static_cast<unsigned char>(s[j])) && s[j] != '$') ++j;
  return j < s.size() && s[j] == '$' ? j + 1 : std::string_view::npos;
}

inline std::string lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace detail

// `limit`: stop after that many tokens, for readers that need only a
// statement's head.
[[nodiscard]] inline std::vector<Token> lex(std::string_view s, std::size_t limit = std::string_view::npos) {
  using K = Token::Kind;
  std::vector<Token> out;
  std::size_t i = 0;
  auto push = [&](K kind, std::size_t from, std::size_t to, std::string folded) {
    out.push_back(Token{kind, std::string{s.substr(from, to - from)}, std::move(folded), from});
  };
  while (i < s.size() && out.size() < limit) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (detail::space(c)) {
      ++i;
    } else if (s.substr(i, 2) == "--") {
      while (i < s.size() && s[i] != '\n') ++i;
    } else if (s.substr(i, 2) == "/*") {
      int depth = 0;
      do {
        if (s.substr(i, 2) == "/*") depth++, i += 2;
        else if (s.substr(i, 2) == "*/") depth--, i += 2;
        else ++i;
      } while (depth > 0 && i < s.size());
    } else if (c == '"' || ((c == 'U' || c == 'u') && s.substr(i + 1, 2) == "&\"")) {
      const std::size_t from = i;
      i += c == '"' ? 1 : 3;
      std::string name;
      for (; i < s.size(); ++i) {
        if (s[i] != '"') {
          name += s[i];
        } else if (i + 1 < s.size() && s[i + 1] == '"') {
          name += '"';
          ++i;
        } else {
          break;
        }
      }
      i = std::min(i + 1, s.size());
      push(K::quoted, from, i, std::move(name));
    } else if (c == '\'' || ((c == 'E' || c == 'e' || c == 'B' || c == 'b' || c == 'X' || c == 'x' || c == 'N' ||
                              c == 'n') && i + 1 < s.size() && s[i + 1] == '\'') ||
               ((c == 'U' || c == 'u') && s.substr(i + 1, 2) == "&'")) {
      const std::size_t from = i;
      const bool escapes = c == 'E' || c == 'e';
      i = s.find('\'', i) + 1;
      std::string value;
      for (; i < s.size(); ++i) {
        if (escapes && s[i] == '\\' && i + 1 < s.size()) {
          value += s[++i];
        } else if (s[i] != '\'') {
          value += s[i];
        } else if (i + 1 < s.size() && s[i + 1] == '\'') {
          value += '\'';
          ++i;
        } else {
          break;
        }
      }
      i = std::min(i + 1, s.size());
      push(K::literal, from, i, std::move(value));
    } else if (c == '$' && detail::dollar_tag_end(s, i) != std::string_view::npos) {
      const std::size_t from = i;
      const std::size_t body = detail::dollar_tag_end(s, i);
      const std::string_view tag = s.substr(i, body - i);
      const auto close = s.find(tag, body);
      const std::size_t end = close == std::string_view::npos ? s.size() : close + tag.size();
      push(K::literal, from, end, std::string{s.substr(body, (close == std::string_view::npos ? s.size() : close) - body)});
      i = end;
    } else if (detail::ident_start(c)) {
      const std::size_t from = i;
      while (i < s.size() && detail::ident_cont(static_cast<unsigned char>(s[i]))) ++i;
      push(K::word, from, i, detail::lower(s.substr(from, i - from)));
    } else if (std::isdigit(c) != 0 || (c == '.' && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])) != 0)) {
      const std::size_t from = i;
      while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) != 0 || s[i] == '.' || s[i] == '_')) ++i;
      push(K::number, from, i, std::string{s.substr(from, i - from)});
    } else if (c == ':' && i + 1 < s.size() && s[i + 1] == ':') {
      push(K::punct, i, i + 2, "::");
      i += 2;
    } else {
      push(K::punct, i, i + 1, std::string(1, static_cast<char>(c)));
      ++i;
    }
  }
  return out;
}

}  // namespace lockstep::sql
