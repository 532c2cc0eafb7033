// Opt-in `${NAME}` placeholders in migration files (Settings::placeholders,
// docs/migrations.md#placeholders). Replaced after the checksum is taken
// over the file as written (detail/run/target.hpp), so a value may change
// between deploys without the file counting as edited.
//
//   ${NAME}    the value of NAME (letters, digits, '_'; not starting with a digit)
//   $${NAME}   the text ${NAME}, as written: the escape
//
// Only `${` followed by a name and `}` is one: `$$`, `$tag$` (dollar quoting),
// `$1` (parameters) and `${` before anything else are never placeholders, and text inside quotes and
// dollar-quoted bodies is replaced like any other (a body that means
// `${x}` itself writes `$${x}`). A value may hold a secret: the caller
// registers every value it used with the redactor.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lockstep/error.hpp"
#include "lockstep/sql/splitter.hpp"

namespace lockstep::sql {

struct Substituted {
  std::string sql;
  std::vector<std::string> values;  // each value used, for the redactor
};

// A placeholder's value, or nullopt when it is not set.
using PlaceholderLookup = std::function<std::optional<std::string>(const std::string& name)>;

namespace detail {

[[nodiscard]] inline bool placeholder_name_start(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
[[nodiscard]] inline bool placeholder_name_char(char c) noexcept {
  return placeholder_name_start(c) || (c >= '0' && c <= '9');
}

// At `at` (a '$'): the end of `${NAME}` (one past '}'), or npos when what
// follows is not '{', a name and '}'.
[[nodiscard]] inline std::size_t placeholder_end(std::string_view s, std::size_t at) noexcept {
  if (at + 1 >= s.size() || s[at + 1] != '{') return std::string_view::npos;
  std::size_t i = at + 2;
  if (i >= s.size() || !placeholder_name_start(s[i])) return std::string_view::npos;
  while (i < s.size() && placeholder_name_char(s[i])) ++i;
  return i < s.size() && s[i] == '}' ? i + 1 : std::string_view::npos;
}

}  // namespace detail

// `sql` with each `${NAME}` replaced by its value and each `$${NAME}` by
// `${NAME}`. An unset name, or a value that would move the file's lines (a
// line break: the server's error positions would no longer be the file's),
// is an error with the placeholder's line and column; the value itself is
// never part of an error.
[[nodiscard]] inline result<Substituted> substitute_placeholders(std::string_view sql,
                                                                 const PlaceholderLookup& lookup) {
  Substituted out;
  out.sql.reserve(sql.size());
  std::optional<LineIndex> lines;  // only built for an error
  auto bad = [&](std::size_t at, std::string why) {
    if (!lines) lines.emplace(sql);
    auto e = make_error(errc::source_invalid, std::move(why));
    const auto p = lines->at(at);
    e.line = p.line;
    e.column = p.column;
    return e;
  };
  std::size_t i = 0;
  while (i < sql.size()) {
    const auto dollar = sql.find('$', i);
    if (dollar == std::string_view::npos) {
      out.sql.append(sql.substr(i));
      break;
    }
    out.sql.append(sql.substr(i, dollar - i));
    // The escape: `$${NAME}` is the text `${NAME}`.
    if (dollar + 1 < sql.size() && sql[dollar + 1] == '$') {
      const auto end = detail::placeholder_end(sql, dollar + 1);
      if (end != std::string_view::npos) {
        out.sql.append(sql.substr(dollar + 1, end - dollar - 1));
        i = end;
        continue;
      }
      out.sql += "$$";  // dollar quoting: neither '$' starts a placeholder
      i = dollar + 2;
      continue;
    }
    if (dollar + 1 >= sql.size() || sql[dollar + 1] != '{') {
      out.sql += '$';
      i = dollar + 1;
      continue;
    }
    const auto end = detail::placeholder_end(sql, dollar);
    if (end == std::string_view::npos) {  // `${` without a name and '}' (a regex, `${1}`): text
      out.sql += '$';
      i = dollar + 1;
      continue;
    }
    const std::string name{sql.substr(dollar + 2, end - dollar - 3)};
    auto value = lookup(name);
    if (!value) {
      return bad(dollar, "placeholder ${" + name + "} is not set: give it a value (--placeholder " + name +
                             "=VALUE, or the environment variable " + name + " with --placeholders; "
                             "Settings::placeholders), or write $${" + name + "} for the text ${" + name + "}");
    }
    if (value->find_first_of("\r\n") != std::string::npos) {
      return bad(dollar, "placeholder ${" + name + "} has a value with a line break, which would move the "
                         "file's lines (the server's error positions are the file's); give it a one-line value");
    }
    out.sql += *value;
    if (!value->empty()) out.values.push_back(std::move(*value));
    i = end;
  }
  return out;
}

}  // namespace lockstep::sql
