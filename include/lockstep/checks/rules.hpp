// Every rule lockstep checks, one table: where is rule X? In
// checks/rules/<X>.hpp, which holds its id, what it does and the safe
// alternative, its detection (a lock rule's, given its clause by the shared
// statement reader, safety/analyze.hpp) and its catalog question. Ids are
// part of the API: settings, `--lock-rule`, `-- lockstep:allow=<id>` and the
// ledger name them.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "lockstep/checks/rule.hpp"
#include "lockstep/checks/rules/index_not_concurrent.hpp"
#include "lockstep/checks/rules/drop_index_not_concurrent.hpp"
#include "lockstep/checks/rules/reindex_not_concurrent.hpp"
#include "lockstep/checks/rules/constraint_scan.hpp"
#include "lockstep/checks/rules/foreign_key_scan.hpp"
#include "lockstep/checks/rules/unique_constraint_build.hpp"
#include "lockstep/checks/rules/volatile_default.hpp"
#include "lockstep/checks/rules/generated_column.hpp"
#include "lockstep/checks/rules/type_change.hpp"
#include "lockstep/checks/rules/set_not_null.hpp"
#include "lockstep/checks/rules/table_rewrite.hpp"
#include "lockstep/checks/rules/rename_breaks_old_code.hpp"
#include "lockstep/checks/rules/drop_breaks_old_code.hpp"
#include "lockstep/checks/rules/validate_same_transaction.hpp"
#include "lockstep/checks/rules/lock_held_across_statements.hpp"
#include "lockstep/checks/rules/detach_partition_not_concurrent.hpp"
#include "lockstep/checks/rules/domain_constraint_scan.hpp"
#include "lockstep/checks/rules/not_null_without_default.hpp"
#include "lockstep/checks/rules/truncate_cascade.hpp"
#include "lockstep/checks/rules/drop_database.hpp"
#include "lockstep/checks/rules/json_column.hpp"
#include "lockstep/checks/rules/unbatched_dml.hpp"
#include "lockstep/checks/rules/non_transactional.hpp"
#include "lockstep/checks/rules/transaction_control.hpp"
#include "lockstep/checks/rules/not_idempotent.hpp"
#include "lockstep/checks/rules/enum_value_in_same_transaction.hpp"
#include "lockstep/checks/rules/row_type_change.hpp"

namespace lockstep::checks {

// In the order messages list them: the lock rules, then the statement rules.
inline constexpr std::array all_rules{
    rules::index_not_concurrent::rule,
    rules::drop_index_not_concurrent::rule,
    rules::reindex_not_concurrent::rule,
    rules::constraint_scan::rule,
    rules::foreign_key_scan::rule,
    rules::unique_constraint_build::rule,
    rules::volatile_default::rule,
    rules::generated_column::rule,
    rules::type_change::rule,
    rules::set_not_null::rule,
    rules::table_rewrite::rule,
    rules::rename_breaks_old_code::rule,
    rules::drop_breaks_old_code::rule,
    rules::row_type_change::rule,
    rules::validate_same_transaction::rule,
    rules::lock_held_across_statements::rule,
    rules::detach_partition_not_concurrent::rule,
    rules::domain_constraint_scan::rule,
    rules::not_null_without_default::rule,
    rules::truncate_cascade::rule,
    rules::drop_database::rule,
    rules::json_column::rule,
    rules::unbatched_dml::rule,
    rules::non_transactional::rule,
    rules::transaction_control::rule,
    rules::not_idempotent::rule,
    rules::enum_value_in_same_transaction::rule,
};

// Every rule id, comma-separated: for messages that name the choices.
[[nodiscard]] inline std::string rule_ids() {
  std::string out;
  for (const auto& r : all_rules) out += (out.empty() ? "" : ", ") + std::string{r.id};
  return out;
}

[[nodiscard]] constexpr const Rule* find_rule(std::string_view id) {
  for (const auto& r : all_rules) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

}  // namespace lockstep::checks

// The lock rules' engine (safety/) names them so.
namespace lockstep::safety {
using checks::find_rule;
using checks::Rule;
using checks::rule_ids;
}  // namespace lockstep::safety
