// Several sources in one process (docs/services.md): the application's own
// migrations and those of the libraries it embeds (a job queue, an auth
// module), each a Migrator with a ledger of its own, and so its own lock,
// failure log and failure gate, run in a declared order under one deadline.
//
//   Migrator<TryLock, NotifyBackoff, Deadline<>, EmbeddedSource> queue{s, queue_source, TableLedger::for_service("jobs")};
//   Migrator<> app{s, DirectorySource{"migrations"}, TableLedger::for_service("app")};
//   auto reports = lockstep::run_in_order(std::chrono::minutes{5}, queue, app);
//
// Each run gets what is left of the budget (its Timeout policy is replaced
// by one of that length before it starts). The first that fails ends the
// sequence: what comes after it may depend on it. Those before it stay
// applied; those after it are not touched: no lock taken, no row written.
// Declare the order the dependencies need; a migration that needs another
// ledger's version can also say so (`-- lockstep:requires=jobs@3`).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "lockstep/error.hpp"
#include "lockstep/report.hpp"

namespace lockstep {

namespace detail {

// "the 2nd of 3 (ledger lockstep.jobs)".
template <class M>
[[nodiscard]] std::string sequence_place(M& m, std::size_t index, std::size_t count) {
  const std::size_t n = index + 1;
  const char* suffix = (n % 100 >= 11 && n % 100 <= 13) ? "th" : n % 10 == 1 ? "st" : n % 10 == 2 ? "nd" : n % 10 == 3 ? "rd" : "th";
  std::string out = "the " + std::to_string(n) + suffix + " of " + std::to_string(count);
  if constexpr (requires { m.ledger().identity(); }) out += " (ledger " + m.ledger().identity() + ")";
  return out;
}

}  // namespace detail

// Runs `migrators` in order, each with what is left of `budget`; their
// reports in the same order, or the first failure (its own error, which
// says which one failed and that the ones after it did not run).
template <class... Ms>
  requires(std::is_constructible_v<typename Ms::timeout_type, std::chrono::milliseconds> && ...)
[[nodiscard]] result<std::vector<Report>> run_in_order(std::chrono::milliseconds budget, Ms&... migrators) noexcept {
  try {
    constexpr std::size_t count = sizeof...(Ms);
    const auto until = std::chrono::steady_clock::now() + budget;
    std::vector<Report> reports;
    reports.reserve(count);
    std::optional<Error> failed;
    std::size_t index = 0;
    auto one = [&](auto& m) {
      if (failed) return;
      using Timeout = typename std::remove_reference_t<decltype(m)>::timeout_type;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      m.timeout() = Timeout{std::max(left, std::chrono::milliseconds{1})};
      auto r = m.run();
      if (r) {
        reports.push_back(std::move(r).value());
      } else {
        Error e = std::move(r).error();
        e.message += " [" + detail::sequence_place(m, index, count) + " in run_in_order; " +
                     (index + 1 < count ? "the ones after it were not run" : "it was the last") + "]";
        failed = std::move(e);
      }
      ++index;
    };
    (one(migrators), ...);
    if (failed) return std::move(*failed);
    return reports;
  } catch (...) {
    return make_error(errc::internal_error, "run_in_order: out of memory");
  }
}

}  // namespace lockstep
