// Turns what the text says (Hazard) into findings with a level, asking the
// catalog what the text cannot tell when a database is at hand. Without one
// (offline `lockstep lint`), a finding the catalog could have dismissed or
// sized is reported as a warning that needs a database to be sure.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lockstep/detail/outcome_shim.hpp"
#include "lockstep/safety/catalog.hpp"
#include "lockstep/safety/config.hpp"
#include "lockstep/safety/finding.hpp"
#include "lockstep/safety/hazard.hpp"
#include "lockstep/safety/rules.hpp"

namespace lockstep::safety {

namespace detail {

inline std::string human_rows(double rows) {
  char buf[32];
  if (rows < 1000) std::snprintf(buf, sizeof buf, "%.0f", rows);
  else if (rows < 1e6) std::snprintf(buf, sizeof buf, "~%.0f k", rows / 1e3);
  else if (rows < 1e9) std::snprintf(buf, sizeof buf, "~%.1f M", rows / 1e6);
  else std::snprintf(buf, sizeof buf, "~%.1f G", rows / 1e9);
  return buf;
}

inline std::string human_bytes(std::int64_t b) {
  char buf[32];
  const double d = static_cast<double>(b);
  if (b < 1024 * 1024) std::snprintf(buf, sizeof buf, "%.0f kB", d / 1024);
  else if (b < std::int64_t{1} << 30) std::snprintf(buf, sizeof buf, "%.0f MB", d / (1 << 20));
  else std::snprintf(buf, sizeof buf, "%.1f GB", d / (1 << 30));
  return buf;
}

inline std::string describe(const std::string& table, const TableSize& s) {
  if (s.rows == 0 && s.bytes <= 8192) return table + " is empty";
  const std::string in = s.parts > 0 ? " in " + std::to_string(s.parts) + (s.parts == 1 ? " partition" : " partitions") : "";
  if (s.rows < 0) return table + " (" + human_bytes(s.bytes) + in + ", never analyzed)";
  return table + " (" + human_rows(s.rows) + " rows, " + human_bytes(s.bytes) + in + ")";
}

}  // namespace detail

// `catalog`: null offline. `allow`: rule id -> reason, from the migration's directives.
[[nodiscard]] inline result<std::vector<Finding>> judge(const std::vector<Hazard>& hazards, const LockSafety& config,
                                                        Catalog* catalog,
                                                        const std::map<std::string, std::string>& allow = {}) {
  std::vector<Finding> out;
  if (!config.enabled) return out;
  std::vector<bool> dismissed(hazards.size(), false);
  for (std::size_t index = 0; index < hazards.size(); ++index) {
    const Hazard& h = hazards[index];
    dismissed[index] = true;  // until a finding is made of it
    if (h.depends_on >= 0 && static_cast<std::size_t>(h.depends_on) < index && dismissed[h.depends_on]) continue;
    const Rule* rule = find_rule(h.rule);
    if (rule == nullptr) continue;
    const auto configured = config.levels.find(h.rule);
    if (configured != config.levels.end() && configured->second == Level::off) continue;
    Finding f;
    f.rule = h.rule;
    f.position = h.position;
    f.table = h.table;
    std::string why = h.note;
    bool certain = h.certain;
    if (catalog != nullptr) {
      // A lost connection is the run's business; a question the catalog
      // cannot answer (an odd name) leaves the finding as the text says.
      auto lost = [](const Error& e) { return e.code == errc::connection_failed; };
      switch (h.question) {
        case Question::none: break;
        case Question::default_volatile: {
          auto v = catalog->any_volatile(h.functions);
          if (!v && lost(v.error())) return std::move(v).error();
          if (v && !v.value()) continue;
          if (v) certain = true;
          break;
        }
        case Question::type_rewrite: {
          auto c = catalog->type_change(h.table, h.column, h.new_type);
          if (!c && lost(c.error())) return std::move(c).error();
          if (c && !c.value().rewrites) continue;
          if (c) {
            certain = true;
            why = c.value().from.empty() ? "the column is not in the catalog yet"
                                         : "from " + c.value().from + ", not binary-coercible";
          }
          break;
        }
        case Question::not_null_check: {
          auto p = catalog->proves_not_null(h.table, h.column);
          if (!p && lost(p.error())) return std::move(p).error();
          if (p && p.value()) continue;
          if (p) certain = true;
          break;
        }
      }
      if (!h.table.empty()) {
        auto s = catalog->size(h.table, !h.only);
        if (!s && lost(s.error())) return std::move(s).error();
        if (s) {
          // Not there yet: an earlier migration of this run creates it.
          if (!s.value().exists && rule->sized) continue;
          if (s.value().exists) f.size = s.value();
        }
      }
    }
    f.needs_database = catalog == nullptr && (!certain || rule->sized);
    const bool big = f.size && (f.size->rows >= static_cast<double>(config.error_rows) || f.size->bytes >= config.error_bytes);
    if (configured != config.levels.end()) f.level = configured->second;
    else f.level = rule->sized && big && certain ? Level::error : Level::warning;
    if (auto a = allow.find(h.rule); a != allow.end()) f.allowed = a->second;

    std::string msg = h.what + (certain ? " " : " possibly ") + std::string{rule->blocks};
    if (!why.empty()) msg += " (" + why + ")";
    if (f.size) msg += "; " + detail::describe(h.table, *f.size);
    if (f.needs_database)
      msg += "; offline, so " + std::string{!certain ? "whether it does, and " : ""} +
             "the table's size, need a database: the leader checks at pre-flight";
    msg += ". Instead: " + std::string{rule->instead};
    if (f.allowed.empty()) msg += ". Accept it on purpose with `-- lockstep:allow=" + h.rule + " <reason>`";
    else msg += ". Accepted: " + f.allowed;
    f.message = std::move(msg);
    out.push_back(std::move(f));
    dismissed[index] = false;
  }
  return out;
}

}  // namespace lockstep::safety
