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

#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/safety/catalog.hpp"
#include "lockstep/checks/config.hpp"
#include "lockstep/checks/finding.hpp"
#include "lockstep/safety/hazard.hpp"
#include "lockstep/safety/scan.hpp"
#include "lockstep/checks/rules.hpp"

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
  if (!s.of.empty()) {
    const std::string size = s.rows < 0 ? human_bytes(s.bytes) + ", never analyzed"
                                        : human_rows(s.rows) + " rows, " + human_bytes(s.bytes);
    return (table.empty() ? std::string{} : table + ": ") + s.of + " (" + size + ")";
  }
  if (s.rows == 0 && s.bytes <= 8192) return table + " is empty";
  const std::string in = s.parts > 0 ? " in " + std::to_string(s.parts) + (s.parts == 1 ? " partition" : " partitions") : "";
  if (s.rows < 0) return table + " (" + human_bytes(s.bytes) + in + ", never analyzed)";
  return table + " (" + human_rows(s.rows) + " rows, " + human_bytes(s.bytes) + in + ")";
}

}  // namespace detail

// The questions a rule asks in its own file (checks/rules/<id>.hpp), each
// answered there by one catalog query: the one place that sends each
// Question to its rule.
[[nodiscard]] inline result<Answer> ask(Catalog& catalog, const Hazard& h) {
  switch (h.question) {
    case Question::default_volatile: return checks::rules::volatile_default::ask(catalog, h);
    case Question::type_rewrite: return checks::rules::type_change::ask(catalog, h);
    case Question::not_null_check: return checks::rules::set_not_null::ask(catalog, h);
    case Question::has_rows: return checks::rules::not_null_without_default::ask(catalog, h);
    case Question::persistence:
    case Question::tablespace: return checks::rules::table_rewrite::ask(catalog, h);
    case Question::cascades: return checks::rules::truncate_cascade::ask(catalog, h);
    case Question::database_use: return checks::rules::drop_database::ask(catalog, h);
    case Question::unique_pin: return checks::rules::unbatched_dml::ask(catalog, h);
    default: return Answer{};
  }
}

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
    std::string instead = h.instead.empty() ? std::string{rule->instead} : h.instead;
    bool certain = h.certain;
    bool fails = false;  // the statement fails at deploy: an error whatever the size
    const bool ask_size = h.ask_size && (!h.table.empty() || h.object != Object::table);
    if (catalog != nullptr) {
      // A lost connection is the run's business; a question the catalog
      // cannot answer (an odd name) leaves the finding as the text says.
      auto lost = [](const Error& e) { return e.code == errc::connection_failed; };
      if (h.question != Question::none) {
        auto a = ask(*catalog, h);
        if (!a && lost(a.error())) return std::move(a).error();
        if (a && a.value().dismissed) continue;
        if (a) {
          certain = certain || a.value().certain;
          fails = a.value().fails;
          if (!a.value().why.empty()) why = a.value().why;
          if (!a.value().instead.empty()) instead = a.value().instead;
        }
      }
      if (ask_size) {
        auto s = h.object == Object::table ? catalog->size(h.table, !h.only) : catalog->size_of(h.object, h.table);
        if (!s && lost(s.error())) return std::move(s).error();
        if (s) {
          // Not there yet: an earlier migration of this run creates it (new: nothing waits on it).
          if (!s.value().exists && (rule->sized || h.question == Question::has_rows)) continue;
          // A domain no column uses, a schema without tables: nothing to scan.
          if (s.value().exists && h.object != Object::table && s.value().of.empty()) continue;
          if (s.value().exists) f.size = s.value();
        }
      }
      // The one question whose answer needs the table's size too.
      if (h.question == Question::has_rows && f.size) {
        const auto a = checks::rules::not_null_without_default::sized(*f.size);
        if (a.dismissed) continue;
        certain = certain || a.certain;
        fails = fails || a.fails;
        if (!a.why.empty()) why = a.why;
      }
    }
    f.needs_database = catalog == nullptr && (!certain || rule->sized);
    const bool big = f.size && (f.size->rows >= static_cast<double>(config.error_rows) || f.size->bytes >= config.error_bytes);
    if (configured != config.levels.end()) f.level = configured->second;
    else if (rule->info) f.level = Level::info;
    else f.level = (rule->sized && big && certain) || fails ? Level::error : Level::warning;
    if (auto a = allow.find(h.rule); a != allow.end()) f.allowed = a->second;

    std::string msg = h.what + (certain ? " " : " possibly ") + std::string{rule->blocks};
    if (!why.empty()) msg += " (" + why + ")";
    if (f.size) msg += "; " + detail::describe(h.table, *f.size);
    if (f.needs_database)
      msg += "; offline, so " + std::string{!certain ? "whether it does, and " : ""} +
             "the table's size, need a database: the leader checks at pre-flight";
    msg += ". Instead: " + instead;
    // An info rule informs only: there is nothing to accept.
    if (!rule->info && f.allowed.empty()) msg += ". Accept it on purpose with `-- lockstep:allow=" + h.rule + " <reason>`";
    else if (!rule->info) msg += ". Accepted: " + f.allowed;
    f.message = std::move(msg);
    out.push_back(std::move(f));
    dismissed[index] = false;
  }
  return out;
}

}  // namespace lockstep::safety
