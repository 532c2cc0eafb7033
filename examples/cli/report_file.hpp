// The dry-run report as a file for a pull-request comment (Markdown) or a
// tool (JSON): each pending migration's lock-safety findings and, when
// rehearsed, each statement's duration, locks and rewrites.
#pragma once

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "lockstep/checks/render.hpp"
#include "lockstep/json.hpp"
#include "lockstep/report.hpp"

namespace lockstep::cli {

inline std::string locks_json(const std::vector<RelationLock>& locks) {
  std::string out = "[";
  for (const auto& l : locks) {
    if (out.size() > 1) out += ',';
    JsonObject j;
    j.add("relation", l.relation).add("mode", l.mode).add("blocks", lock_blocks(l.mode));
    out += j.str();
  }
  return out + "]";
}

inline std::string strings_json(const std::vector<std::string>& v) {
  std::string out = "[";
  for (const auto& s : v) {
    if (out.size() > 1) out += ',';
    append_json_string(out, s);
  }
  return out + "]";
}

inline std::string report_json(const Report& r) {
  std::string migrations = "[";
  for (const auto& p : r.plan) {
    if (migrations.size() > 1) migrations += ',';
    JsonObject m;
    m.add("version", p.version).add("name", p.name).add("file", p.origin).add("transaction", p.transaction);
    m.add("blocked", p.blocked()).add("rehearsed", p.rehearsed);
    std::string findings = "[";
    for (const auto& f : p.findings) findings += (findings.size() > 1 ? "," : "") + to_json(f, FindingJson{nullptr, true});
    m.add_raw("findings", findings + "]");
    std::string checks = "[";
    for (const auto& c : p.checks) {
      JsonObject j;
      j.add("line", static_cast<std::int64_t>(c.line)).add("sql", c.sql);
      if (!c.result.empty()) j.add("result", c.result);
      checks += (checks.size() > 1 ? "," : "") + j.str();
    }
    m.add_raw("checks", checks + "]");
    if (p.rehearsed) {
      m.add("duration_ms", static_cast<std::int64_t>(p.rehearsal_duration.count()));
      std::string statements = "[";
      for (const auto& s : p.rehearsal) {
        JsonObject j;
        j.add("line", s.line).add("duration_ms", static_cast<std::int64_t>(s.duration.count()));
        j.add_raw("locks", locks_json(s.locks)).add_raw("rewritten", strings_json(s.rewritten));
        statements += (statements.size() > 1 ? "," : "") + j.str();
      }
      m.add_raw("statements", statements + "]").add_raw("left_invalid", strings_json(p.left_invalid));
      m.add_raw("row_types_changed", strings_json(p.row_types_changed));
    }
    migrations += m.str();
  }
  JsonObject o;
  o.add("schema_version", r.schema_version).add("expected_version", r.expected_version);
  return o.add_raw("migrations", migrations + "]").str() + "\n";
}

// Markdown cells hold no newlines or pipes.
inline std::string cell(std::string s) {
  for (auto& c : s) {
    if (c == '\n' || c == '|') c = ' ';
  }
  return s;
}

inline std::string report_markdown(const Report& r) {
  std::ostringstream md;
  md << "## lockstep dry run: schema " << r.schema_version << " -> " << r.expected_version << "\n\n";
  if (r.plan.empty()) md << "Nothing pending.\n";
  for (const auto& p : r.plan) {
    md << "### " << p.version << " " << p.name << " (`" << p.origin << "`)"
       << (p.blocked() ? " - **blocked**" : "") << "\n\n";
    for (const auto& f : p.findings) {
      md << "- **" << checks::to_string(f.level) << "** `" << f.rule << "` line " << f.position.line
         << (f.allowed.empty() ? "" : " (allowed: " + cell(f.allowed) + ")") << ": " << cell(f.message) << "\n";
    }
    if (!p.findings.empty()) md << "\n";
    for (const auto& c : p.checks) {
      md << "- check, line " << c.line << ": `" << cell(c.sql) << "`"
         << (c.result.empty() ? std::string{} : " (rehearsed: " + cell(c.result) + ")") << "\n";
    }
    if (!p.checks.empty()) md << "\n";
    if (!p.rehearsed) {
      md << (p.transaction
                 ? "Not rehearsed (rehearsal not asked for, or skipped: a blocking finding, or it follows a "
                   "no-transaction migration).\n\n"
                 : "Not rehearsed: a no-transaction migration cannot run in a rolled-back transaction "
                   "(CONCURRENTLY refuses one). Its findings above are from the text and the catalog; a failed "
                   "concurrent build's INVALID index is dropped and rebuilt by the leader.\n\n");
      continue;
    }
    md << "Rehearsed in " << p.rehearsal_duration.count() << " ms, rolled back.\n\n"
       << "| line | duration | locks taken (what they block) | rewrote |\n|---|---|---|---|\n";
    for (const auto& s : p.rehearsal) {
      std::string locks, rewrote;
      for (const auto& l : s.locks)
        locks += (locks.empty() ? "" : "<br>") + l.relation + " " + l.mode + " (" + std::string{lock_blocks(l.mode)} + ")";
      for (const auto& w : s.rewritten) rewrote += (rewrote.empty() ? "" : ", ") + w;
      md << "| " << s.line << " | " << s.duration.count() << " ms | " << cell(locks) << " | " << cell(rewrote)
         << " |\n";
    }
    for (const auto& o : p.left_invalid) md << "\nLeft invalid: " << o << "\n";
    for (const auto& o : p.row_types_changed) {
      md << "\nRow type changed: " << o << " (prepared statements on it go stale on serving replicas)\n";
    }
    md << "\n";
  }
  return md.str();
}

// `path` ending in .json: JSON; anything else: Markdown. False if it cannot be written.
[[nodiscard]] inline bool write_report(const Report& r, const std::string& path) {
  std::ofstream out{path};
  const bool json = path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0;
  out << (json ? report_json(r) : report_markdown(r));
  return static_cast<bool>(out);
}

}  // namespace lockstep::cli
