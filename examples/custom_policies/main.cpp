// A user-written policy of each family. Each is checked against its concept at
// compile time: see the bottom of this file for what a wrong one looks like.
#include <chrono>
#include <cstdio>
#include <string>
#include <variant>
#include <vector>

#include <lockstep/lockstep.hpp>

namespace app {

// Wait: linear backoff, capped. Only next_delay() is required.
// [snippet:wait_policy]
struct LinearBackoff {
  std::chrono::milliseconds step{200};
  std::chrono::milliseconds cap{3000};
  [[nodiscard]] std::chrono::milliseconds next_delay(unsigned attempt) const {
    return std::min(cap, step * (attempt + 1));
  }
};
// [/snippet:wait_policy]

// Source: migrations generated in code, e.g. one partition per month.
struct MonthlyPartitions {
  int year = 2027;
  [[nodiscard]] lockstep::result<std::vector<lockstep::Migration>> load() const {
    std::vector<lockstep::MigrationSpec> specs{
        {1, "events", "CREATE TABLE IF NOT EXISTS events (at date NOT NULL, body text) PARTITION BY RANGE (at);"}};
    for (int m = 1; m <= 12; ++m) {
      char sql[256];
      std::snprintf(sql, sizeof sql,
                    "CREATE TABLE IF NOT EXISTS events_%d_%02d PARTITION OF events "
                    "FOR VALUES FROM ('%d-%02d-01') TO ('%d-%02d-01');",
                    year, m, year, m, m == 12 ? year + 1 : year, m == 12 ? 1 : m + 1);
      specs.push_back({1 + m, "partition_" + std::to_string(m), sql});
    }
    return lockstep::MemorySource{std::move(specs)}.load();  // reuse its validation and checksums
  }
};

// Lock: the recommended TryLock, plus a log line whenever it is taken.
struct LoggingTryLock : lockstep::TryLock {
  lockstep::result<bool> try_acquire(lockstep::Connection& conn, std::int64_t key, std::chrono::milliseconds budget) {
    auto got = lockstep::TryLock::try_acquire(conn, key, budget);
    if (got && got.value()) std::fprintf(stderr, "app: this replica leads the migration\n");
    return got;
  }
};

}  // namespace app

int main() {
  using namespace std::chrono_literals;
  lockstep::Settings settings;
  // [snippet:sink]
  // A sink of its own: it reads the typed fields of the events it wants and
  // lets the others pass (every string in them is redacted already).
  settings.on_event = [](const lockstep::Event& e) {
    if (const auto* applied = std::get_if<lockstep::events::MigrationApplied>(&e.body)) {
      std::fprintf(stderr, "app: applied %lld (%s) in %lld ms\n", static_cast<long long>(applied->version),
                   applied->name_.c_str(), static_cast<long long>(applied->duration_ms));
    }
  };
  // [/snippet:sink]
  // [snippet:swap]
  // Ledger in the application's own schema; a shorter deadline; user policies.
  lockstep::Migrator<app::LoggingTryLock, app::LinearBackoff, lockstep::Deadline<>, app::MonthlyPartitions>
      migrator{settings, lockstep::TableLedger{"ops", "schema_history"}, lockstep::Deadline<>{2min},
               app::LinearBackoff{100ms, 1s}, app::MonthlyPartitions{2027}};
  // [/snippet:swap]
  auto report = migrator.run();
  if (!report) {
    std::fprintf(stderr, "%s\n", report.error().to_string().c_str());
    return 1;
  }
  std::printf("schema at version %lld\n", static_cast<long long>(report.value().schema_version));
  return 0;
}

// What a wrong policy gives (tests/compile_fail proves these):
//
//   struct IntWait { int next_delay(unsigned); };
//   lockstep::Migrator<lockstep::TryLock, IntWait> m;
//
//   error: static assertion failed: lockstep::Migrator: Wait does not model
//          lockstep::WaitPolicy: it needs next_delay(unsigned attempt) -> std::chrono::milliseconds
