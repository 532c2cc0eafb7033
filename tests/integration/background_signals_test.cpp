// Two of a runner's answers to a hard table (docs/background.md), against
// the real server: the sessions a batch blocked hold the job's next batch
// (blocked_sessions), and a range a batch cannot get through is narrowed to
// one key and skipped when told to (on_failed_range = skip), every other
// key still run exactly once and only those counted done.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "cli.hpp"
#include "events.hpp"
#include "lockstep/lockstep.hpp"
#include "poll.hpp"
#include "temp_dir.hpp"
#include "test_db.hpp"

using namespace lockstep;
using namespace lockstep::test;
using namespace std::chrono_literals;

namespace {

void bgs_write_orders(const TempDir& dir, int rows) {
  dir.write("1_orders.sql",
            "CREATE TABLE orders (id bigint PRIMARY KEY, total numeric NOT NULL, total_cents bigint);\n"
            "INSERT INTO orders (id, total) SELECT g, g FROM generate_series(1, " + std::to_string(rows) + ") g;\n"
            "CREATE TABLE seen (id bigint NOT NULL);\n");
}

void bgs_write_batch(const TempDir& dir, const std::string& body, int size) {
  dir.write("2_backfill.sql", "-- lockstep:background\n-- lockstep:batch-over=public.orders(id)\n"
                              "-- lockstep:batch-size=" + std::to_string(size) + "\n" + body +
                              "INSERT INTO seen SELECT id FROM orders WHERE id BETWEEN :lo AND :hi;\n");
}

Migrator<> bgs_migrator(const TempDir& dir, const std::string& url, EventSink sink) {
  Settings s;
  s.database_url = url;
  s.on_event = std::move(sink);
  return Migrator<>{s, DirectorySource{dir.path().string()}, Deadline<>{60s}};
}

BackgroundOptions bgs_paced(std::chrono::milliseconds target) {
  BackgroundOptions o;
  o.target_batch = target;
  o.pause = 1ms;
  o.idle_poll = 100ms;
  return o;
}

// The "rows" of every background_batch in `json_lines`, summed: the keys
// reported done.
std::int64_t bgs_rows_reported(const std::string& json_lines) {
  static const std::regex rows{"\"event\":\"background_batch\".*\"rows\":([0-9]+)"};
  std::int64_t sum = 0;
  std::istringstream in{json_lines};
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_search(line, m, rows)) sum += std::stoll(m[1]);
  }
  return sum;
}

std::string bgs_url_with_password(const std::string& url, const std::string& password) {
  const auto at = url.find('@');
  return url.substr(0, at) + ":" + password + url.substr(at);
}

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("the sessions a background batch blocked hold the job's next batch, measured again by the one after" *
            doctest::test_suite("background")) {
    TestDatabase db{"bgblocked"};
    TempDir dir{"bg-blocked"};
    bgs_write_orders(dir, 200);
    // The first batch (keys 1-100) holds its rows for 2 s after updating them.
    bgs_write_batch(dir,
                    "UPDATE orders SET total_cents = 1 WHERE id BETWEEN :lo AND :hi;\n"
                    "SELECT pg_sleep(CASE WHEN :lo = 1 THEN 2 ELSE 0 END);\n",
                    100);
    EventLog log;
    auto m = bgs_migrator(dir, db.url(), log.sink());
    REQUIRE(m.run());
    auto options = bgs_paced(500ms);
    options.health.blocked_sessions = 1;
    options.health.vacuum_on_table = false;  // an autovacuum of orders would hold it too
    auto files = detail::runnable_files(m.source().load().value());
    REQUIRE(files);
    detail::JobRunner<Migrator<>::wait_type, Migrator<>::ledger_type> runner{
        m.settings(), m.wait(), m.ledger(), detail::resolve(m.settings()), "bgblocked-runner", options,
        std::move(files).value()};
    // The application writes a row of that batch while it sleeps: it waits
    // for the batch's COMMIT, and is the one session the batch blocked.
    std::atomic<bool> app_updated{false};
    std::thread app{[&] {
      auto c = db.connect();
      const auto slept = time_until(
          [&] {
            return db.number("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND datname = '" +
                             db.name() + "'") == 1;
          },
          20s);
      if (slept < 20s) app_updated = c.query("UPDATE orders SET total = total + 1 WHERE id = 7").has_value();
    }};
    auto first = runner.step();
    app.join();
    REQUIRE(first);
    CHECK(first.value() == detail::Step::batch);
    CHECK(app_updated);
    CHECK(log.count("background_throttled") == 0);
    auto second = runner.step();
    REQUIRE(second);
    CHECK(second.value() == detail::Step::throttled);
    REQUIRE(log.count("background_throttled") == 1);
    for (const auto& e : log.all()) {
      if (e.name != "background_throttled") continue;
      CAPTURE(e.json);
      CHECK(e.json.find("\"signal\":\"blocked_sessions\",\"value\":\"1 session\",\"limit\":\"1 session\"") !=
            std::string::npos);
    }
    CHECK(db.number("SELECT rows_done FROM lockstep.jobs") == 100);  // the throttled step ran nothing
    // Held once per measurement: the next batch blocked nobody, so the one
    // after it runs, and the job ends with every key once.
    auto third = runner.step();
    REQUIRE(third);
    CHECK(third.value() == detail::Step::batch);
    // The first batch took 2 s: the next ones are smaller (sizing), none held.
    auto next = runner.step();
    for (int i = 0; i < 10 && next && next.value() == detail::Step::batch; ++i) next = runner.step();
    REQUIRE(next);
    CHECK(next.value() == detail::Step::finished);
    CHECK(log.count("background_throttled") == 1);
    CHECK(db.number("SELECT count(*) FROM seen") == 200);
    CHECK(db.number("SELECT count(DISTINCT id) FROM seen") == 200);
  }

  TEST_CASE("lockstep background run --on-failed-range skip passes over the one bad key, and runs every other once" *
            doctest::test_suite("background")) {
    TestDatabase db{"bgskip"};
    TempDir dir{"bg-skip"};
    bgs_write_orders(dir, 300);
    // The batch divides by zero at the row whose total is 0.
    bgs_write_batch(dir, "UPDATE orders SET total_cents = round(total * 100) + (1 / total)::bigint * 0"
                         " WHERE id BETWEEN :lo AND :hi;\n", 16);
    const std::vector<std::string> flags{"--dir", dir.path().string(), "--url", db.url(), "--timeout", "90s"};
    auto with = [&](std::vector<std::string> a) {
      a.insert(a.end(), flags.begin(), flags.end());
      return a;
    };
    REQUIRE(lockstep_cli(with({"migrate"}), "bg-skip-boot").exit_code == 0);
    db.exec("UPDATE orders SET total = 0 WHERE id = 123");
    CHECK(lockstep_cli(with({"background", "run", "--on-failed-range", "sometimes"}), "bg-skip-usage").exit_code == 2);
    auto r = lockstep_cli(with({"background", "run", "--on-failed-range", "skip"}), "bg-skip-run");
    CAPTURE(r.err());
    CHECK(r.exit_code == 0);
    CHECK(count_substr(r.out(), "\"event\":\"background_skipped\"") == 1);
    CHECK(r.out().find("\"key\":\"123\",\"sqlstate\":\"22012\"") != std::string::npos);
    CHECK(r.out().find("\"skipped\":1") != std::string::npos);
    CHECK(r.out().find("\"event\":\"background_failed\"") == std::string::npos);
    // Every other key exactly once; the skipped one never, and never counted done.
    CHECK(db.scalar("SELECT state FROM lockstep.jobs WHERE version = 2") == "succeeded");
    CHECK(db.number("SELECT count(*) FROM seen") == 299);
    CHECK(db.number("SELECT count(DISTINCT id) FROM seen") == 299);
    CHECK(db.number("SELECT count(*) FROM seen WHERE id = 123") == 0);
    CHECK(db.number("SELECT count(*) FROM orders WHERE total_cents IS NULL") == 1);
    CHECK(db.number("SELECT rows_done FROM lockstep.jobs WHERE version = 2") == 299);
    CHECK(bgs_rows_reported(r.out()) == 299);
    CHECK(r.out().find("\"event\":\"background_succeeded\",") != std::string::npos);
    CHECK(r.out().find("\"rows_done\":299,") != std::string::npos);
    // Recorded: in the failure log (cause skipped) and in the job's last_error.
    CHECK(db.number("SELECT count(*) FROM lockstep.failures WHERE version = 2 AND cause = 'skipped'"
                    " AND message LIKE 'skipped key 123 (%2_backfill.sql%): [22012] %' AND resolved_at IS NULL") == 1);
    CHECK(db.number("SELECT count(*) FROM lockstep.failures") == 1);
    CHECK(db.scalar("SELECT last_error FROM lockstep.jobs WHERE version = 2").starts_with(
        "skipped 1 key(s); the last: key 123 ("));
    auto status = lockstep_cli(with({"background", "status"}), "bg-skip-status");
    CHECK(status.exit_code == 0);
    CHECK(status.out().find("skipped 1 key(s)") != std::string::npos);
    // A skipped key stops no deploy: the next migration of the same deploy runs.
    dir.write("3_next.sql", "ALTER TABLE orders ADD COLUMN note text;\n");
    auto next = lockstep_cli(with({"migrate"}), "bg-skip-next");
    CAPTURE(next.err());
    CHECK(next.exit_code == 0);
    CHECK(db.number("SELECT count(*) FROM lockstep.migrations WHERE version = 3") == 1);
  }

  TEST_CASE("a runner told to skip passes over a key that errs and one that times out, and stores no secret" *
            doctest::test_suite("background")) {
    TestDatabase db{"bgskipsecret"};
    TempDir dir{"bg-skip-secret"};
    const std::string secret = "bgs-s3cret-pw";
    bgs_write_orders(dir, 40);
    // Key 5's value is the password (an invalid bigint: the server quotes
    // it in its error); key 9 sleeps past every statement timeout (1 s).
    bgs_write_batch(dir,
                    "UPDATE orders SET total_cents = (CASE WHEN id = 5 THEN '" + secret + "' ELSE id::text END)::bigint"
                    " WHERE id BETWEEN :lo AND :hi\n"
                    "  AND (SELECT count(*) FROM pg_sleep(CASE WHEN :lo <= 9 AND :hi >= 9 THEN 3 ELSE 0 END)) = 1;\n",
                    8);
    EventLog log;
    auto m = bgs_migrator(dir, bgs_url_with_password(db.url(), secret), log.sink());
    REQUIRE(m.run());
    auto options = bgs_paced(50ms);
    options.timeouts_at_one_row = 2;
    options.on_failed_range = FailedRange::skip;
    const auto until = std::chrono::steady_clock::now() + 120s;
    auto ran = run_background(m, options, [&] { return std::chrono::steady_clock::now() > until; }, true);
    REQUIRE(ran);
    CHECK(ran.value().failed.empty());
    CHECK(db.scalar("SELECT state FROM lockstep.jobs WHERE version = 2") == "succeeded");
    CHECK(log.count("background_skipped") == 2);
    CHECK(db.number("SELECT count(*) FROM seen") == 38);
    CHECK(db.number("SELECT count(DISTINCT id) FROM seen") == 38);
    CHECK(db.number("SELECT count(*) FROM seen WHERE id IN (5, 9)") == 0);
    CHECK(db.number("SELECT rows_done FROM lockstep.jobs WHERE version = 2") == 38);
    std::string events;
    for (const auto& e : log.all()) events += e.json + "\n";
    CHECK(bgs_rows_reported(events) == 38);
    CHECK(events.find("\"key\":\"5\",\"sqlstate\":\"22P02\"") != std::string::npos);
    CHECK(events.find("\"key\":\"9\",\"sqlstate\":\"57014\"") != std::string::npos);
    CHECK(events.find("\"skipped\":2") != std::string::npos);
    CHECK(db.number("SELECT count(*) FROM lockstep.failures WHERE version = 2 AND cause = 'skipped'") == 2);
    CHECK(db.scalar("SELECT last_error FROM lockstep.jobs").starts_with("skipped 2 key(s); the last: key 9 "));
    // The server quoted the password; nothing lockstep stored or said has it.
    CHECK(db.number("SELECT count(*) FROM lockstep.failures WHERE message LIKE '%invalid input syntax%'") == 1);
    CHECK(db.number("SELECT count(*) FROM lockstep.failures WHERE message LIKE '%" + secret + "%'") == 0);
    CHECK(db.number("SELECT count(*) FROM lockstep.jobs WHERE last_error LIKE '%" + secret + "%'") == 0);
    CHECK(events.find(secret) == std::string::npos);
  }
}
