// The jobs one process's runners hold when it runs several at once
// (BackgroundOptions::jobs_at_once). A runner keeps to its job while it
// works on it, and no two of them work on jobs of one table: two jobs
// rewriting one table would take each other's row locks and double the
// write load on it. (Runners of other processes are kept apart per job by
// the job's lock, not per table.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace lockstep::detail {

class Siblings {
 public:
  // May runner `self` work on job `version` of table `relation` now? Yes
  // when no other runner holds that job or a job on that table (a job on
  // no table, long statements that build no index, clashes with none);
  // then it is `self`'s, and `self`'s previous job is let go.
  [[nodiscard]] bool take(std::size_t self, std::int64_t version, const std::string& relation) {
    std::lock_guard lock{mutex_};
    for (const auto& [who, held] : held_) {
      if (who == self) continue;
      if (held.version == version) return false;
      if (!relation.empty() && held.relation == relation) return false;
    }
    held_[self] = Held{version, relation};
    return true;
  }

  // Runner `self` works on nothing now (its job ended, failed or waits).
  void release(std::size_t self) {
    std::lock_guard lock{mutex_};
    held_.erase(self);
  }

 private:
  struct Held {
    std::int64_t version = 0;
    std::string relation;
  };
  std::mutex mutex_;
  std::map<std::size_t, Held> held_;
};

}  // namespace lockstep::detail
