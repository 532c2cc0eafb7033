// Must NOT compile: the ledger keeps a registry of its own, but one that
// cannot withdraw a replica, so it does not model
// lockstep::ReplicaRegistryPolicy and the ledger is no lockstep::RegistryLedger.
#include <optional>
#include <string>
#include <vector>

#include "lockstep/lockstep.hpp"

using namespace lockstep;

struct NoWithdrawRegistry {
  result<std::optional<AppliedMigration>> enroll(Connection&, const ReplicaRecord&, std::chrono::milliseconds) {
    return std::optional<AppliedMigration>{};
  }
  result<Renewal> renew(Connection&, const std::string&, std::chrono::milliseconds, std::int64_t) { return Renewal{}; }
  result<std::vector<ReplicaRecord>> older_than(Connection&, std::int64_t, bool) { return std::vector<ReplicaRecord>{}; }
  result<std::vector<ReplicaRecord>> recent(Connection&) { return std::vector<ReplicaRecord>{}; }
};

struct PartialRegistryLedger : TableLedger {
  NoWithdrawRegistry& registry() { return own; }
  NoWithdrawRegistry own;
};

int main() {
  Migrator<TryLock, NotifyBackoff, Deadline<>, DirectorySource, PartialRegistryLedger> m{Settings{}};
  return m.run() ? 0 : 1;
}
