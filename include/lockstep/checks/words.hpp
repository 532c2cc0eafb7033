// A statement's leading tokens as the statement rules compare them, read from
// the lexer (sql/lexer.hpp), the one token model: bare words upper-cased,
// quoted identifiers as "\"", literals as "'", numbers as "0", punctuation
// as itself ("::" as two ':'). At most 32: the rules read a statement's head.
#pragma once

#include <algorithm>
#include <initializer_list>
#include <string>
#include <vector>

#include "lockstep/sql/lexer.hpp"

namespace lockstep::checks {

using Words = std::vector<std::string>;

[[nodiscard]] inline Words leading_words(const std::vector<sql::Token>& tokens) {
  Words out;
  for (const auto& t : tokens) {
    if (out.size() >= 32) break;
    switch (t.kind) {
      case sql::Token::Kind::word: out.push_back(sql::detail::upper(t.text)); break;
      case sql::Token::Kind::quoted: out.emplace_back("\""); break;
      case sql::Token::Kind::literal: out.emplace_back(t.text.empty() || t.text[0] != '$' ? "'" : "$"); break;
      case sql::Token::Kind::number: out.emplace_back("0"); break;
      case sql::Token::Kind::punct:
        if (t.text == "::") {
          out.emplace_back(":");
          if (out.size() < 32) out.emplace_back(":");
        } else {
          out.push_back(t.text);
        }
        break;
    }
  }
  return out;
}

namespace words {

inline bool starts(const Words& t, std::initializer_list<const char*> ws) {
  std::size_t i = 0;
  for (const char* w : ws) {
    if (i >= t.size() || t[i] != w) return false;
    ++i;
  }
  return true;
}

inline bool has(const Words& t, const char* w) { return std::find(t.begin(), t.end(), w) != t.end(); }

inline bool has_seq(const Words& t, std::initializer_list<const char*> ws) {
  const std::vector<std::string> seq(ws.begin(), ws.end());
  return std::search(t.begin(), t.end(), seq.begin(), seq.end()) != t.end();
}

// Skips CREATE's modifiers: CREATE [OR REPLACE] [UNIQUE|TEMP|TEMPORARY|UNLOGGED|GLOBAL|LOCAL] <object>.
inline std::string created_object(const Words& t) {
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

}  // namespace words
}  // namespace lockstep::checks
