// Issue #33's "done means", with real processes: a backfill of millions of
// rows runs in the background (a `lockstep background run` process) while a
// serving workload updates single rows and a herd of 20 `lockstep replica`
// processes boots; every replica takes the fast path and none waits for the
// job; every row is processed exactly once.
#include <doctest/doctest.h>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cli.hpp"
#include "poll.hpp"
#include "processes.hpp"
#include "temp_dir.hpp"
#include "test_db.hpp"

using namespace lockstep::test;
using namespace std::chrono_literals;

namespace {

constexpr long long kBgHerdRows = 2'000'000;

// What the serving workload measured: each single-row UPDATE's latency.
struct BgHerdServing {
  std::vector<double> latencies_ms;
  long long failed = 0;
  std::string first_error;

  [[nodiscard]] double percentile(double p) {
    if (latencies_ms.empty()) return 0;
    std::sort(latencies_ms.begin(), latencies_ms.end());
    const auto i = static_cast<std::size_t>(p * static_cast<double>(latencies_ms.size() - 1));
    return latencies_ms[i];
  }
};

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE(
      "background_herd.million_rows_while_serving: 2000000 rows backfilled while updates serve and 20 replicas boot" *
      doctest::test_suite("background")) {
    const auto test_start = std::chrono::steady_clock::now();
    auto seconds_since = [](std::chrono::steady_clock::time_point t) {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    };
    TestDatabase db{"bgherd"};
    TempDir dir{"bg-herd-million"};
    // One INSERT from generate_series; `processed` counts the batches that
    // visited each row (exactly once: all 1).
    dir.write("1_orders.sql", "CREATE TABLE orders (id bigint PRIMARY KEY, total bigint NOT NULL, "
                              "processed int NOT NULL DEFAULT 0);\n"
                              "INSERT INTO orders (id, total) SELECT g, g FROM generate_series(1, " +
                                  std::to_string(kBgHerdRows) + ") g;\n");
    dir.write("2_backfill.sql", "-- lockstep:background\n-- lockstep:batch-over=public.orders(id)\n"
                                "-- lockstep:batch-size=100000\n"
                                "UPDATE orders SET processed = processed + 1 WHERE id BETWEEN :lo AND :hi;\n");
    const std::vector<std::string> common{"--dir", dir.path().string(), "--url", db.url(), "--timeout", "120s"};
    auto with = [&](std::vector<std::string> a) {
      a.insert(a.end(), common.begin(), common.end());
      return a;
    };
    auto boot = lockstep_cli(with({"migrate", "--deploy-version", "v1"}), "bg-herd-boot");
    CAPTURE(boot.err());
    REQUIRE(boot.exit_code == 0);
    REQUIRE(db.scalar("SELECT state FROM lockstep.jobs WHERE version = 2") == "queued");
    const double setup_s = seconds_since(test_start);

    // The serving workload: short single-row UPDATEs on a session of its
    // own, as an application serves, for as long as the backfill runs.
    std::atomic<bool> serving{true};
    BgHerdServing served;
    auto conn = db.connect();
    REQUIRE(conn.query("SET statement_timeout = '10s'"));
    std::thread server{[&] {
      std::mt19937_64 rng{33};
      std::uniform_int_distribution<long long> key{1, kBgHerdRows};
      while (serving.load()) {
        const auto t0 = std::chrono::steady_clock::now();
        auto r = conn.query("UPDATE orders SET total = total + 1 WHERE id = " + std::to_string(key(rng)));
        served.latencies_ms.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        if (!r) {
          if (served.failed++ == 0) served.first_error = r.error().message;
        }
        std::this_thread::sleep_for(2ms);
      }
    }};
    auto stop_serving = [&] {
      serving = false;
      if (server.joinable()) server.join();
    };
    struct StopServing {
      std::function<void()> stop;
      ~StopServing() { stop(); }
    } stop_at_exit{stop_serving};  // a failed REQUIRE below still joins the thread

    TempDir out{"bg-herd-million-out"};
    Herd runner{out.path() / "runner"};
    runner.spawn(1, with({cli_path(), "background", "run"}));
    const auto runner_start = std::chrono::steady_clock::now();
    runner.release();
    // The herd boots while the job is mid-way: once its first batches committed.
    const auto started = time_until(
        [&] { return db.number("SELECT rows_done FROM lockstep.jobs WHERE version = 2") > 0; }, 60s, 50ms);
    REQUIRE(started < 60s);

    Herd herd{out.path() / "herd"};
    herd.spawn(20, with({cli_path(), "replica", "--deploy-version", "v1"}));
    const auto herd_start = std::chrono::steady_clock::now();
    herd.release();
    // Each replica serves without waiting for the job: its `ready` line,
    // then its registration (after which SIGTERM is a clean stop).
    std::vector<double> ready_s(herd.children().size(), -1);
    const auto ready_by = herd_start + 30s;
    while (std::chrono::steady_clock::now() < ready_by &&
           std::any_of(ready_s.begin(), ready_s.end(), [](double s) { return s < 0; })) {
      for (std::size_t i = 0; i < ready_s.size(); ++i) {
        const auto text = herd.children()[i].out();
        if (ready_s[i] < 0 && text.find("\"event\":\"ready\"") != std::string::npos &&
            text.find("\"event\":\"replica_registered\"") != std::string::npos) {
          ready_s[i] = seconds_since(herd_start);
        }
      }
      std::this_thread::sleep_for(20ms);
    }
    // Read after the last replica was ready: the job was unfinished then.
    const auto state_when_ready = db.scalar("SELECT state FROM lockstep.jobs WHERE version = 2");
    const auto rows_when_ready = db.number("SELECT rows_done FROM lockstep.jobs WHERE version = 2");
    for (auto& c : herd.children()) ::kill(c.pid, SIGTERM);
    herd.wait_all(30s);
    REQUIRE_FALSE(herd.hung());
    const double slowest_ready = *std::max_element(ready_s.begin(), ready_s.end());
    MESSAGE("herd: slowest replica ready after " << slowest_ready << " s; job " << state_when_ready << " at "
                                                 << rows_when_ready << " of " << kBgHerdRows << " rows then");
    CHECK(std::none_of(ready_s.begin(), ready_s.end(), [](double s) { return s < 0 || s > 10; }));
    CHECK(state_when_ready == "running");
    CHECK(rows_when_ready < kBgHerdRows);
    for (const auto& c : herd.children()) {
      CAPTURE(c.err());
      CHECK(c.exit_code == 0);  // SIGTERM: a clean stop
      const auto text = c.out();
      // The fast path: the schema is at its version; no lock, nothing applied, no job touched.
      CHECK(text.find("\"event\":\"ready\",") != std::string::npos);
      CHECK(text.find("\"role\":\"current\"") != std::string::npos);
      CHECK(text.find("\"event\":\"lock_acquired\"") == std::string::npos);
      CHECK(text.find("\"event\":\"waiting\"") == std::string::npos);
      CHECK(text.find("\"event\":\"migration_applied\"") == std::string::npos);
      CHECK(text.find("\"event\":\"background_") == std::string::npos);
    }

    runner.wait_all(180s);
    REQUIRE_FALSE(runner.hung());
    const double backfill_s = seconds_since(runner_start);
    stop_serving();  // the backfill is over
    const auto& r = runner.children().at(0);
    CAPTURE(r.err());
    CHECK(r.exit_code == 0);
    CHECK(r.out().find("\"event\":\"background_succeeded\"") != std::string::npos);
    const auto batches = count_substr(r.out(), "\"event\":\"background_batch\"");

    // The database decides: the job succeeded, every row visited exactly once.
    CHECK(db.scalar("SELECT state FROM lockstep.jobs WHERE version = 2") == "succeeded");
    CHECK(db.number("SELECT rows_done FROM lockstep.jobs WHERE version = 2") == kBgHerdRows);
    CHECK(db.number("SELECT count(*) FROM orders WHERE processed <> 1") == 0);
    CHECK(db.number("SELECT sum(processed) FROM orders") == kBgHerdRows);
    // The replicas registered and withdrew: each booted as a replica would.
    CHECK(db.number("SELECT count(*) FROM lockstep.migrations") == 2);

    // The serving workload kept going: no update failed, its tail bounded.
    CAPTURE(served.first_error);
    CHECK(served.failed == 0);
    CHECK(served.latencies_ms.size() > 100);
    const double p50 = served.percentile(0.50), p99 = served.percentile(0.99), worst = served.percentile(1.0);
    CHECK(worst < 10'000);  // below its statement_timeout: no update waited that long
    MESSAGE("backfill of " << kBgHerdRows << " rows: " << backfill_s << " s in " << batches << " batches ("
                           << static_cast<long long>(static_cast<double>(kBgHerdRows) / backfill_s)
                           << " rows/s); setup " << setup_s << " s; serving updates: " << served.latencies_ms.size()
                           << ", failed " << served.failed << ", p50 " << p50 << " ms, p99 " << p99 << " ms, max "
                           << worst << " ms; test total " << seconds_since(test_start) << " s");
  }
}
