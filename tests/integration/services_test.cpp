// Several services on one database (issue #34, part 2; docs/services.md):
// each service its own ledger (--service), a catalog every service reads,
// and `-- lockstep:requires=a@2` making a leader wait for another service
// instead of failing. Real `lockstep` processes: the promise is about them.
#include <doctest/doctest.h>

#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "cli.hpp"
#include "lockstep/lockstep.hpp"
#include "poll.hpp"
#include "processes.hpp"
#include "temp_dir.hpp"
#include "test_db.hpp"

using namespace lockstep;
using namespace lockstep::test;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> svc_cli(const std::string& command, const std::string& service, const TempDir& dir,
                                 const TestDatabase& db, std::vector<std::string> more = {}) {
  std::vector<std::string> argv{cli_path(), command, "--service", service, "--dir", dir.path().string(),
                                "--url", db.url()};
  argv.insert(argv.end(), more.begin(), more.end());
  return argv;
}

// Service a adds a column in its migration 2; service b's migration 2 is a
// view over that column, so it needs a@2.
void write_services(const TempDir& a, const TempDir& b) {
  a.write("0001_a_t.sql", "CREATE TABLE a_t (id int PRIMARY KEY);\n");
  a.write("0002_a_x.sql", "ALTER TABLE a_t ADD COLUMN x int;\n");
  b.write("0001_b_t.sql", "CREATE TABLE b_t (id int PRIMARY KEY);\n");
  b.write("0002_b_v.sql", "-- lockstep:requires=a@2\nCREATE VIEW b_v AS SELECT id, x FROM a_t;\n");
}

bool view_exists(const TestDatabase& db) { return db.scalar("SELECT to_regclass('public.b_v') IS NOT NULL") == "t"; }

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("services: b's migration waits for a's version, woken by a's commit, and runs right after it") {
    for (const std::string lock : {"try", "transaction"}) {
      CAPTURE(lock);
      TestDatabase db{"svcwait"};
      TempDir a{"svcwait-a"}, b{"svcwait-b"}, out{"svcwait-out"};
      write_services(a, b);
      // a needs its table before b's view can name it, so a's first
      // migration is there; its second is not.
      REQUIRE(run_one(svc_cli("migrate", "a", a, db, {"--expect", "1"}), out.path() / "a1").exit_code == 0);
      // Two replicas of b: one leads and waits for a, the other follows it.
      Herd bs{out.path() / (lock + "-b")};
      bs.spawn(2, svc_cli("migrate", "b", b, db, {"--timeout", "60s", "--lock", lock}));
      bs.release();
      REQUIRE(bs.wait_for_output("\"event\":\"service_waiting\"", 30s) >= 0);
      CHECK(db.scalar("SELECT waiting_for FROM lockstep.services WHERE service = 'b'") == "a@2");
      CHECK(db.number("SELECT max(version) FROM lockstep.b") == 1);  // what needs nothing ran
      CHECK_FALSE(view_exists(db));
      // Long enough that the waiting leader's backoff has grown past 3 s:
      // finishing within 2 s of a's commit means the NOTIFY woke it.
      std::this_thread::sleep_for(4s);
      const auto t0 = std::chrono::steady_clock::now();
      auto ra = run_one(svc_cli("migrate", "a", a, db), out.path() / (lock + "-a2"));
      REQUIRE(ra.exit_code == 0);
      const auto a_done = std::chrono::steady_clock::now();
      bs.wait_all(30s);
      const auto b_done = std::chrono::steady_clock::now();
      for (auto& c : bs.children()) {
        CAPTURE(c.out());
        CAPTURE(c.err());
        CHECK(c.exit_code == 0);
      }
      CHECK(b_done - a_done < 2s);
      (void)t0;
      CHECK(view_exists(db));
      CHECK(db.number("SELECT count(*) FROM lockstep.b WHERE version = 2") == 1);  // once, by one of them
      CHECK(db.scalar("SELECT string_agg(service || ':' || version || ':' || waiting_for, ',' ORDER BY service) "
                      "FROM lockstep.services") == "a:2:,b:2:");
      // status --services shows both, for either service.
      auto st = run_one(svc_cli("status", "a", a, db, {"--services"}), out.path() / (lock + "-status"));
      CAPTURE(st.out());
      CHECK(st.exit_code == 0);
      CHECK(st.out().find("services (2):") != std::string::npos);
      CHECK(st.out().find("lockstep.b") != std::string::npos);
      auto js = run_one(svc_cli("status", "b", b, db, {"--json"}), out.path() / (lock + "-status-json"));
      CHECK(js.out().find(R"("services":[{"service":"a","ledger":"lockstep.a","version":2,)") != std::string::npos);
    }
  }

  TEST_CASE("services: a leader whose required service never arrives gives up at the deadline, naming it, and nothing of the migration ran") {
    TestDatabase db{"svcdeadline"};
    TempDir a{"svcdl-a"}, b{"svcdl-b"}, out{"svcdl-out"};
    write_services(a, b);
    REQUIRE(run_one(svc_cli("migrate", "a", a, db, {"--expect", "1"}), out.path() / "a1").exit_code == 0);
    const auto t0 = std::chrono::steady_clock::now();
    auto r = run_one(svc_cli("migrate", "b", b, db, {"--timeout", "3s"}), out.path() / "b");
    const auto took = std::chrono::steady_clock::now() - t0;
    CAPTURE(r.out());
    CAPTURE(r.err());
    CHECK(r.exit_code == 10);  // deadline_exceeded
    CHECK(r.err().find("requires service a at version 2") != std::string::npos);
    CHECK(r.err().find("a is at version 1") != std::string::npos);
    CHECK(r.err().find("0002_b_v.sql:1") != std::string::npos);
    CHECK(took < 8s);
    CHECK_FALSE(view_exists(db));
    CHECK(db.number("SELECT count(*) FROM lockstep.b WHERE version = 2") == 0);
    CHECK(db.number("SELECT count(*) FROM lockstep.b_failures") == 0);  // not the file's failure: the next deploy tries
    CHECK(db.scalar("SELECT waiting_for FROM lockstep.services WHERE service = 'b'").empty());
  }

  TEST_CASE("services: lint across services finds a cycle, and passes the pair that only waits") {
    TempDir a{"svclint-a"}, b{"svclint-b"}, out{"svclint-out"};
    write_services(a, b);
    auto ok = run_one({cli_path(), "lint", "--service", "b", "--dir", b.path().string(), "--service-dir",
                       "a=" + a.path().string()},
                      out.path() / "ok");
    CAPTURE(ok.err());
    CHECK(ok.exit_code == 0);
    a.write("0003_a_y.sql", "-- lockstep:requires=b@2\nALTER TABLE a_t ADD COLUMN y int;\n");
    CHECK(run_one({cli_path(), "lint", "--service", "b", "--dir", b.path().string(), "--service-dir",
                   "a=" + a.path().string()},
                  out.path() / "still-ok")
              .exit_code == 0);
    a.write("0002_a_x.sql", "-- lockstep:requires=b@2\nALTER TABLE a_t ADD COLUMN x int;\n");
    auto cycle = run_one({cli_path(), "lint", "--service", "b", "--dir", b.path().string(), "--service-dir",
                          "a=" + a.path().string()},
                         out.path() / "cycle");
    CAPTURE(cycle.err());
    CHECK(cycle.exit_code == 4);  // source_invalid
    CHECK(cycle.err().find("form a cycle") != std::string::npos);
    CHECK(cycle.err().find("requires a@2") != std::string::npos);
    CHECK(cycle.err().find("requires b@2") != std::string::npos);
  }

  TEST_CASE("several sources in one process: each its own ledger, in order under one deadline, one failing leaves the others untouched") {
    TestDatabase db{"svcseq"};
    using Memory = Migrator<TryLock, NotifyBackoff, Deadline<>, MemorySource>;
    Settings s;
    s.database_url = db.url();
    s.on_event = null_sink();
    auto migrator = [&](const std::string& service, MemorySource source) {
      return Memory{s, std::move(source), TableLedger::for_service(service)};
    };
    {
      auto jobs = migrator("jobs", MemorySource{{1, "jobs_t", "CREATE TABLE jobs_t (id int);"}});
      auto app = migrator("app", MemorySource{{1, "app_t", "CREATE TABLE app_t (id int);"},
                                              {2, "broken", "SELECT nope FROM app_t;"}});
      auto auth = migrator("auth", MemorySource{{1, "auth_t", "CREATE TABLE auth_t (id int);"}});
      auto r = run_in_order(30s, jobs, app, auth);
      REQUIRE_FALSE(r);
      CHECK(r.error().sqlstate == "42703");
      CHECK(r.error().message.find("the 2nd of 3 (ledger lockstep.app)") != std::string::npos);
      CHECK(r.error().message.find("the ones after it were not run") != std::string::npos);
      CHECK(db.number("SELECT count(*) FROM lockstep.jobs") == 1);
      CHECK(db.number("SELECT count(*) FROM lockstep.app") == 1);           // its first migration stays
      CHECK(db.number("SELECT count(*) FROM lockstep.app_failures") == 1);  // its own failure log
      CHECK(db.scalar("SELECT to_regclass('lockstep.auth') IS NULL AND to_regclass('public.auth_t') IS NULL") == "t");
      CHECK(db.scalar("SELECT string_agg(service || ':' || version, ',' ORDER BY service) FROM lockstep.services") ==
            "app:1,jobs:1");
    }
    {
      // Fixed (a new file, so a new attempt): every one applies, in order.
      auto jobs = migrator("jobs", MemorySource{{1, "jobs_t", "CREATE TABLE jobs_t (id int);"}});
      auto app = migrator("app", MemorySource{{1, "app_t", "CREATE TABLE app_t (id int);"},
                                              {2, "fixed", "ALTER TABLE app_t ADD COLUMN note text;"}});
      auto auth = migrator("auth", MemorySource{{1, "auth_t", "CREATE TABLE auth_t (id int);"}});
      auto r = run_in_order(30s, jobs, app, auth);
      REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
      REQUIRE(r.value().size() == 3);
      CHECK(r.value()[1].schema_version == 2);
      CHECK(r.value()[2].schema_version == 1);
    }
    {
      // One deadline for all: the first takes most of it, the second gets the rest.
      auto slow1 = migrator("slow1", MemorySource{{1, "sleep", "SELECT pg_sleep(1);"}});
      auto slow2 = migrator("slow2", MemorySource{{1, "sleep", "SELECT pg_sleep(1);"}});
      const auto t0 = std::chrono::steady_clock::now();
      auto r = run_in_order(1500ms, slow1, slow2);
      const auto took = std::chrono::steady_clock::now() - t0;
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::deadline_exceeded);
      CHECK(r.error().message.find("the 2nd of 2 (ledger lockstep.slow2)") != std::string::npos);
      CHECK(took < 3s);
      CHECK(db.number("SELECT count(*) FROM lockstep.slow1") == 1);
    }
  }

  // Found by review: a catalog row at version 0 (written when that
  // service's leader began to wait, its ledger from before the catalog) or
  // one left behind (its leader may not write the catalog) hid the ledger's
  // real version, and whoever required it waited to the deadline.
  TEST_CASE("services: a service's own ledger counts where its catalog row is missing or behind") {
    TestDatabase db{"svcbehind"};
    TempDir a{"svcbehind-a"}, b{"svcbehind-b"}, out{"svcbehind-out"};
    write_services(a, b);
    REQUIRE(run_one(svc_cli("migrate", "a", a, db), out.path() / "a").exit_code == 0);
    db.exec("UPDATE lockstep.services SET version = 0 WHERE service = 'a'");
    auto r = run_one(svc_cli("migrate", "b", b, db, {"--timeout", "10s"}), out.path() / "b");
    CAPTURE(r.err());
    CHECK(r.exit_code == 0);
    CHECK(view_exists(db));
    CHECK(r.out().find("\"event\":\"service_waiting\"") == std::string::npos);  // no wait: a was there
  }

  // Found by review: in a schema of the application's, the catalog took the
  // name `services`, and the application's own `services` table then failed.
  TEST_CASE("services: a ledger in the application's schema keeps its catalog out of the application's names") {
    TestDatabase db{"svcapp"};
    Settings s;
    s.database_url = db.url();
    s.on_event = null_sink();
    Migrator<TryLock, NotifyBackoff, Deadline<>, MemorySource> m{
        s,
        MemorySource{{1, "users", "CREATE TABLE users (id int PRIMARY KEY);"},
                     {2, "services", "CREATE TABLE services (id int PRIMARY KEY, url text NOT NULL);"}},
        TableLedger{"public", "schema_migrations"}, Deadline<>{30s}};
    auto r = m.run();
    REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
    CHECK(db.scalar("SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = "
                    "'public.services'::regclass AND attnum > 0") == "id,url");
    CHECK(db.scalar("SELECT service || ':' || version FROM public.lockstep_services") == "schema_migrations:2");
  }

  // Found by review: a leader that may not write the catalog left it behind
  // its ledger without a word, and the missing grant was never named.
  TEST_CASE("services: a leader that may not update the catalog applies, and says which grant it lacks") {
    TestDatabase db{"svcgrant"};
    TempDir a{"svcgrant-a"}, f{"svcgrant-f"}, out{"svcgrant-out"};
    a.write("0001_a_t.sql", "CREATE TABLE a_t (id int PRIMARY KEY);\n");
    f.write("0001_f_t.sql", "CREATE TABLE f_t (id int PRIMARY KEY);\n");
    REQUIRE(run_one(svc_cli("migrate", "a", a, db), out.path() / "a").exit_code == 0);  // schema and catalog
    const std::string role = "ls_svcgrant_" + std::to_string(::getpid());
    db.exec("DROP ROLE IF EXISTS " + role + "; CREATE ROLE " + role + " LOGIN; GRANT USAGE, CREATE ON SCHEMA lockstep "
            "TO " + role + "; GRANT CREATE ON SCHEMA public TO " + role +
            "; REVOKE INSERT, UPDATE ON lockstep.services FROM PUBLIC");
    auto r = run_one({cli_path(), "migrate", "--service", "f", "--dir", f.path().string(), "--url",
                      url_as(db.url(), role)},
                     out.path() / "f");
    CAPTURE(r.out());
    CAPTURE(r.err());
    CHECK(r.exit_code == 0);
    CHECK(db.number("SELECT max(version) FROM lockstep.f") == 1);
    CHECK(db.number("SELECT count(*) FROM lockstep.services WHERE service = 'f'") == 0);
    CHECK(r.out().find("\"event\":\"warning\"") != std::string::npos);
    CHECK(r.out().find("could not be updated ([42501]") != std::string::npos);
    CHECK(r.out().find("grant this role INSERT and UPDATE on it") != std::string::npos);
    db.exec("DROP OWNED BY " + role + "; DROP ROLE " + role);
  }
}
