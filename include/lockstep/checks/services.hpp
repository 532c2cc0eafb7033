// Checks across services, which no one service's boot can make
// (docs/services.md): every `-- lockstep:requires=billing@42` names another
// service, one whose migrations reach version 42, and no chain of them
// loops back. A leader waits for what its migration requires
// (detail/run/service_wait.hpp); a cycle would have two services' leaders
// wait for each other until their deadlines, at every deploy. `lockstep lint
// --dir A --service a --service-dir b=B` runs it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "lockstep/detail/base/outcome_shim.hpp"
#include "lockstep/error.hpp"
#include "lockstep/migration.hpp"
#include "lockstep/sql/directives.hpp"

namespace lockstep {

// `services`: each service's migrations (as its source loaded them, by
// version). A requirement on a service not given is not checked; one on
// the service itself, or on a version its migrations never reach, is an
// error naming the file and line; so is a cycle, named step by step.
[[nodiscard]] inline result<void> check_services(const std::map<std::string, std::vector<Migration>>& services) {
  using Node = std::pair<std::string, std::size_t>;  // a service, and the index of one of its migrations
  auto problem = [](const Migration& m, int line, const std::string& why) {
    auto e = make_error(errc::source_invalid, m.origin + ":" + std::to_string(line) + ": " + why);
    e.version = m.version;
    e.file = m.origin;
    e.line = line;
    e.column = 1;
    return e;
  };
  // What each migration must run after: its service's previous migration,
  // and the first migration of each service it requires that reaches the version.
  std::map<Node, std::vector<std::pair<Node, std::string>>> after;
  for (const auto& [service, migrations] : services) {
    for (std::size_t i = 0; i < migrations.size(); ++i) {
      const Migration& m = migrations[i];
      auto& edges = after[{service, i}];
      if (i > 0) edges.push_back({{service, i - 1}, ""});
      for (const auto& r : sql::declared_service_requirements(m.sql)) {
        if (r.service == service) {
          return problem(m, r.line, "lockstep:requires=" + r.text() + " names this file's own service; within a "
                                    "service, migrations run in version order already");
        }
        const auto other = services.find(r.service);
        if (other == services.end()) continue;
        const auto& theirs = other->second;
        const auto reach = std::find_if(theirs.begin(), theirs.end(),
                                        [&](const Migration& o) { return o.version >= r.version; });
        if (reach == theirs.end()) {
          return problem(m, r.line, "lockstep:requires=" + r.text() + ": " + r.service + "'s migrations end at " +
                                        (theirs.empty() ? std::string{"nothing"}
                                                        : std::to_string(theirs.back().version)) +
                                        ", so this migration would wait for ever; name a version " + r.service +
                                        " has");
        }
        const std::string why = service + " " + std::to_string(m.version) + " (" + m.origin + ":" +
                                std::to_string(r.line) + ") requires " + r.text();
        edges.push_back({{r.service, static_cast<std::size_t>(reach - theirs.begin())}, why});
      }
    }
  }
  // Depth-first, iteratively: an edge to a node on the current path closes
  // a cycle. labels[k] is the edge from stack[k] to stack[k + 1].
  enum class Mark { none, on_path, done };
  std::map<Node, Mark> mark;
  for (const auto& entry : after) {
    const Node& start = entry.first;
    if (mark[start] != Mark::none) continue;
    std::vector<Node> stack{start};
    std::vector<std::size_t> next{0};
    std::vector<std::string> labels;
    mark[start] = Mark::on_path;
    while (!stack.empty()) {
      const Node node = stack.back();
      const auto& edges = after[node];
      if (next.back() == edges.size()) {
        mark[node] = Mark::done;
        stack.pop_back();
        next.pop_back();
        if (!labels.empty()) labels.pop_back();
        continue;
      }
      const auto [to, why] = edges[next.back()++];
      if (mark[to] == Mark::on_path) {
        const auto k = static_cast<std::size_t>(std::find(stack.begin(), stack.end(), to) - stack.begin());
        std::string cycle;
        for (std::size_t j = k; j <= labels.size(); ++j) {
          const std::string& step = j < labels.size() ? labels[j] : why;
          if (!step.empty()) cycle += (cycle.empty() ? "" : "; ") + step;
        }
        const Migration& m = services.at(node.first)[node.second];
        auto e = make_error(errc::source_invalid,
                            "the services' requirements form a cycle, so their leaders would wait for each other "
                            "until their deadlines: " + cycle + "; break it by moving one side's change to a "
                            "later migration");
        e.version = m.version;
        e.file = m.origin;
        return e;
      }
      if (mark[to] == Mark::none) {
        mark[to] = Mark::on_path;
        stack.push_back(to);
        next.push_back(0);
        labels.push_back(why);
      }
    }
  }
  return outcome::success();
}

}  // namespace lockstep
