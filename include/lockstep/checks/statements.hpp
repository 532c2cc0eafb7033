// The statement rules over one migration, in statement order, each at the
// level it finds (settings and `-- lockstep:allow` are applied by
// checks/check.hpp). The text alone decides these, except an unsure
// enum_value_in_same_transaction, which the catalog settles.
#pragma once

#include <string_view>
#include <vector>

#include "lockstep/checks/finding.hpp"
#include "lockstep/checks/rules/enum_value_in_same_transaction.hpp"
#include "lockstep/checks/rules/non_transactional.hpp"
#include "lockstep/checks/rules/not_idempotent.hpp"
#include "lockstep/checks/rules/transaction_control.hpp"
#include "lockstep/checks/words.hpp"
#include "lockstep/sql/directives.hpp"
#include "lockstep/sql/lexer.hpp"
#include "lockstep/sql/reader.hpp"
#include "lockstep/sql/splitter.hpp"

namespace lockstep::checks {

// `sql` is the file the statements came from.
[[nodiscard]] inline std::vector<Finding> statement_findings(const std::vector<sql::Statement>& statements,
                                                             const sql::Directives& d, int server_version,
                                                             std::string_view sql) {
  namespace r = rules;
  std::vector<Finding> out;
  const auto enum_uses = r::enum_value_in_same_transaction::uses(statements, d.no_transaction, sql);
  auto next_use = enum_uses.begin();
  auto add = [&](Level level, const Rule& rule, std::string message, sql::Position at) {
    Finding f;
    f.rule = std::string{rule.id};
    f.level = level;
    f.message = std::move(message);
    f.position = at;
    out.push_back(std::move(f));
  };
  for (const auto& s : statements) {
    const std::string_view text = s.text(sql);
    const std::vector<sql::Token> lexed = sql::lex(text);
    const sql::Reader reader{lexed, text};
    const Words t = leading_words(lexed);
    if (next_use != enum_uses.end() && next_use->finding.position.line == s.position.line &&
        next_use->finding.position.column == s.position.column)
      out.push_back((next_use++)->finding);
    if (r::transaction_control::two_phase_commit(t)) {
      add(Level::error, r::transaction_control::rule, r::transaction_control::two_phase_message(t), s.position);
    } else if (!d.no_transaction) {
      if (auto why = r::non_transactional::why(t, reader, server_version); !why.empty()) {
        add(Level::error, r::non_transactional::rule, r::non_transactional::message(why), s.position);
      } else if (r::transaction_control::controls(t)) {
        add(Level::error, r::transaction_control::rule, r::transaction_control::message(t), s.position);
      }
    } else if (auto why = r::not_idempotent::why(t, reader); !why.empty()) {
      add(Level::warning, r::not_idempotent::rule, r::not_idempotent::message(why), s.position);
    }
  }
  return out;
}

}  // namespace lockstep::checks
