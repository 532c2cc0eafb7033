// A finding as the program and the events show it: one line of text for a
// terminal, or its JSON fields (the same in `lint` events, `lockstep lint
// --json` and dry-run reports).
#pragma once

#include <cstdint>
#include <string>

#include "lockstep/checks/finding.hpp"
#include "lockstep/checks/rules.hpp"
#include "lockstep/detail/base/json.hpp"
#include "lockstep/events/types.hpp"
#include "lockstep/migration.hpp"

namespace lockstep {

namespace detail {

// The rule and its level, then where and what.
inline void add_finding_head(JsonObject& o, const Finding& f) {
  o.add("severity", checks::to_string(f.level)).add("rule", f.rule);
}
inline void add_finding_body(JsonObject& o, const Finding& f) {
  o.add("line", f.position.line).add("column", f.position.column).add("message", f.message);
  if (!f.table.empty()) o.add("table", f.table);
  if (f.size) o.add("rows", static_cast<std::int64_t>(f.size->rows)).add("bytes", f.size->bytes);
  if (f.size && f.size->parts > 0) o.add("partitions", f.size->parts);
  if (f.needs_database) o.add("needs_database", true);
  if (!f.allowed.empty()) o.add("allowed", f.allowed);
}
inline void add_finding(JsonObject& o, const Finding& f) {
  add_finding_head(o, f);
  add_finding_body(o, f);
}

// A `lint` event. The order is as released: a statement rule's event names
// the rule before the migration, a lock rule's after it.
[[nodiscard]] inline events::Lint lint_event(const Migration& m, const Finding& f) {
  const checks::Rule* rule = checks::find_rule(f.rule);
  events::Lint e{.version = m.version, .file = m.origin, .severity = std::string{checks::to_string(f.level)},
                 .rule = f.rule, .line = f.position.line, .column = f.position.column, .message = f.message,
                 .table = events::unless_empty(f.table), .needs_database = f.needs_database,
                 .allowed = events::unless_empty(f.allowed),
                 .rule_first = rule != nullptr && rule->kind == checks::Rule::Kind::statement};
  if (f.size) e.rows = static_cast<std::int64_t>(f.size->rows), e.bytes = f.size->bytes;
  if (f.size && f.size->parts > 0) e.partitions = f.size->parts;
  return e;
}

}  // namespace detail

struct FindingJson {
  const Migration* migration = nullptr;  // prefix "file" and "version"
  bool blocks = false;                   // suffix "blocks": whether it stops a deploy
};

// One JSON object: {"file","version",}? severity, rule, line, column,
// message, and table, rows, bytes, partitions, needs_database, allowed when
// set{,"blocks"}?
[[nodiscard]] inline std::string to_json(const Finding& f, const FindingJson& with = {}) {
  detail::JsonObject o;
  if (with.migration != nullptr) o.add("file", with.migration->origin).add("version", with.migration->version);
  detail::add_finding(o, f);
  if (with.blocks) o.add("blocks", f.blocks());
  return o.str();
}

// "file:line:column: level [rule] (needs a database to be sure) (allowed): message"
[[nodiscard]] inline std::string to_text(const Finding& f, const Migration& m) {
  return m.origin + ':' + std::to_string(f.position.line) + ':' + std::to_string(f.position.column) + ": " +
         std::string{checks::to_string(f.level)} + " [" + f.rule + "]" +
         (f.needs_database ? " (needs a database to be sure)" : "") + (!f.allowed.empty() ? " (allowed)" : "") +
         ": " + f.message;
}

}  // namespace lockstep
