// The program on a terminal (examples/cli/progress_bar.hpp): run under a
// pseudo-terminal (util-linux `script`), `background run` draws a bar
// redrawn with '\r', `background status` a bar per job, `migrate` short
// lines, none showing the URL's password; without a terminal, or with
// --progress json, JSON lines stay.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "cli.hpp"
#include "processes.hpp"
#include "temp_dir.hpp"
#include "test_db.hpp"

using namespace lockstep::test;
using namespace std::chrono_literals;

namespace {

// `args` run by the program with a pseudo-terminal as its stdout: what the
// terminal showed (the pty turns "\n" into "\r\n"), and the exit code (-e).
Child cli_on_terminal(const std::vector<std::string>& args, const std::filesystem::path& out) {
  std::string command = "'" + cli_path() + "'";
  for (const auto& a : args) command += " '" + a + "'";
  return run_one({"/usr/bin/script", "-q", "-e", "-c", command, "/dev/null"}, out, 120s);
}

bool cli_progress_has_json(const std::string& text) { return text.find("{\"event\":") != std::string::npos; }

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("cli_progress.bar_on_a_terminal_json_otherwise: bars and short lines under a pty and JSON lines without") {
    REQUIRE(std::filesystem::exists("/usr/bin/script"));
    TestDatabase db{"cliprogress"};
    TempDir dir{"cli-progress"};
    TempDir out{"cli-progress-out"};
    dir.write("1_orders.sql", "CREATE TABLE orders (id bigint PRIMARY KEY, total bigint, done int NOT NULL DEFAULT 0);\n"
                              "INSERT INTO orders (id, total) SELECT g, g FROM generate_series(1, 20000) g;\n"
                              "ANALYZE orders;\n");
    dir.write("2_backfill.sql", "-- lockstep:background\n-- lockstep:batch-over=public.orders(id)\n"
                                "-- lockstep:batch-size=1000\n"
                                "UPDATE orders SET done = done + 1 WHERE id BETWEEN :lo AND :hi;\n");
    // A password in the URL (the server trusts this role, so it is never
    // checked) and the same text as the deploy version, which the boot line
    // shows: every line on the terminal must hide it.
    const std::string secret = "PtySecret-9q";
    std::string url = db.url();
    url.insert(url.find('@'), ":" + secret);
    const std::vector<std::string> common{"--dir", dir.path().string(), "--url", url, "--timeout", "60s"};
    auto with = [&](std::vector<std::string> a) {
      a.insert(a.end(), common.begin(), common.end());
      return a;
    };

    // migrate on a terminal: short lines, no JSON.
    auto migrated = cli_on_terminal(with({"migrate", "--deploy-version", secret}), out.path() / "migrate");
    CAPTURE(migrated.out());
    REQUIRE(migrated.exit_code == 0);
    CHECK(migrated.out().find("migration 1 (orders) applied in") != std::string::npos);
    CHECK(migrated.out().find("background 2 (backfill) queued over") != std::string::npos);
    CHECK(migrated.out().find("ready: schema version 2 (leader") != std::string::npos);
    CHECK_FALSE(cli_progress_has_json(migrated.out()));
    CHECK(migrated.out().find("deploy ***)") != std::string::npos);

    // background status before the run, on a terminal: a bar per job, empty.
    auto queued = cli_on_terminal(with({"background", "status"}), out.path() / "status-queued");
    CAPTURE(queued.out());
    CHECK(queued.exit_code == 0);
    CHECK(queued.out().find("background 2 (backfill)  [....") != std::string::npos);
    CHECK(queued.out().find("queued") != std::string::npos);
    CHECK_FALSE(cli_progress_has_json(queued.out()));

    // background run on a terminal: the bar, redrawn in place batch by batch.
    auto ran = cli_on_terminal(with({"background", "run", "--batch-target", "50ms"}), out.path() / "run");
    const auto text = ran.out();
    CAPTURE(text);
    CHECK(ran.exit_code == 0);
    CHECK_FALSE(cli_progress_has_json(text));
    CHECK(text.find('\x1b') == std::string::npos);  // no ANSI escapes, ever
    CHECK(count_substr(text, "\rbackground 2 (backfill)  [") >= 3);  // a redraw per batch
    CHECK(text.find("rows  ETA ") != std::string::npos);
    CHECK(text.find("100%  20000 rows in ") != std::string::npos);
    CHECK(db.number("SELECT count(*) FROM orders WHERE done <> 1") == 0);

    auto done = cli_on_terminal(with({"background", "status"}), out.path() / "status-done");
    CAPTURE(done.out());
    CHECK(done.out().find("background 2 (backfill)  [####") != std::string::npos);
    CHECK(done.out().find("succeeded  100%  20000 rows") != std::string::npos);

    // The same commands without a terminal, or told json: JSON lines only.
    auto plain = lockstep_cli(with({"background", "status"}), "cli-progress-plain");
    CHECK(plain.exit_code == 0);
    REQUIRE(plain.lines().size() == 1);
    CHECK(plain.lines()[0].rfind("{\"version\":2,", 0) == 0);
    CHECK(plain.lines()[0].find("\"state\":\"succeeded\"") != std::string::npos);
    auto again = lockstep_cli(with({"migrate"}), "cli-progress-plain-migrate");
    CHECK(again.exit_code == 0);
    REQUIRE_FALSE(again.lines().empty());
    for (const auto& line : again.lines()) CHECK(line.rfind("{\"event\":", 0) == 0);
    auto told = cli_on_terminal(with({"migrate", "--progress", "json"}), out.path() / "json-on-terminal");
    CHECK(told.exit_code == 0);
    CHECK(told.out().rfind("{\"event\":\"boot\"", 0) == 0);
    CHECK(told.out().find("ready: ") == std::string::npos);
    auto status_json = cli_on_terminal(with({"background", "status", "--json"}), out.path() / "status-json");
    CHECK(status_json.out().rfind("{\"version\":2,", 0) == 0);
    for (const auto* c : {&migrated, &queued, &ran, &done, &plain, &again, &told, &status_json}) {
      CHECK(c->out().find(secret) == std::string::npos);
      CHECK(c->err().find(secret) == std::string::npos);
    }
  }
}
