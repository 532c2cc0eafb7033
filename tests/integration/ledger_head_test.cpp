// The ledger's head (ledger_head.hpp): the every-boot query reads one row
// that triggers keep in step with the ledger, whoever changes it; a leader
// reads the ledger itself; a ledger from before the head gains one where the
// role may add it, and works without it where it may not.
#include <doctest/doctest.h>

#include <string>
#include <unistd.h>

#include "events.hpp"
#include "lockstep/lockstep.hpp"
#include "test_db.hpp"

using namespace lockstep;
using namespace lockstep::test;

namespace {

template <class Lock = TryLock>
using HeadRun = Migrator<Lock, ExponentialBackoff, Deadline<>, MemorySource>;

Settings head_settings(const std::string& url, EventLog& log) {
  Settings s;
  s.database_url = url;
  s.deploy_version = "v-head";
  s.host = "test-host";
  s.on_event = log.sink();
  return s;
}

MemorySource migrations(int n) {
  MemorySource source;
  for (int v = 1; v <= n; ++v) {
    source.add({v, "m" + std::to_string(v), "CREATE TABLE t" + std::to_string(v) + " (id int);"});
  }
  return source;
}

template <class Lock = TryLock>
result<Report> head_run(const std::string& url, int n) {
  EventLog log;
  return HeadRun<Lock>{head_settings(url, log), migrations(n)}.run();
}

template <class Lock = TryLock>
void must_run(const std::string& url, int n) {
  auto r = head_run<Lock>(url, n);
  REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
}

// What the head says equals what the ledger says, for `deploy`.
void agrees(Connection& c, const std::string& deploy) {
  TableLedger ledger;
  auto head = ledger.head().read(c, deploy);
  REQUIRE(head);
  REQUIRE_MESSAGE(head.value(), "no usable head");
  auto confirmed = ledger.read_confirmed_state(c, deploy);
  REQUIRE(confirmed);
  const LedgerState& h = *head.value();
  const LedgerState& l = confirmed.value();
  CHECK(h.exists == l.exists);
  CHECK(h.version == l.version);
  CHECK(h.count == l.count);
  CHECK(h.digest == l.digest);
  CHECK(h.deploy_recorded == l.deploy_recorded);
}

// A role with what `lockstep ledger-sql --role` grants, and a URL that logs in as it.
std::string role_url(const TestDatabase& db, Connection& admin, const std::string& role) {
  must(admin.query("DROP ROLE IF EXISTS " + role));
  must(admin.query("CREATE ROLE " + role + " LOGIN"));
  must(admin.query("GRANT CONNECT ON DATABASE " + db.name() + " TO " + role));
  must(admin.query("GRANT USAGE, CREATE ON SCHEMA public TO " + role));
  return url_as(db.url(), role);
}

// A ledger from before the head: no table, functions or triggers.
const std::string no_head =
    "DROP TABLE lockstep.head; DROP FUNCTION lockstep.head_on_change() CASCADE;"
    " DROP FUNCTION lockstep.head_on_insert() CASCADE; DROP FUNCTION lockstep.head_on_deploy() CASCADE;"
    " DROP FUNCTION lockstep.head_refresh()";

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("LedgerHead" * doctest::test_suite("pg_sample")) {
    TestDatabase db{"head"};

    SUBCASE("it says what the ledger says, after lockstep's writes and after hand edits") {
      must_run(db.url(), 3);
      auto c = db.connect();
      {
        TableLedger ledger;
        auto head = ledger.head().read(c, "v-head");
        REQUIRE(head);
        REQUIRE(head.value());
        CHECK(head.value()->version == 3);
        CHECK(head.value()->count == 3);
        CHECK(head.value()->deploy_recorded);
      }
      agrees(c, "v-head");
      agrees(c, "other");
      must(c.query("DELETE FROM lockstep.migrations WHERE version = 3"));
      agrees(c, "v-head");
      must(c.query("UPDATE lockstep.migrations SET checksum = 'edited' WHERE version = 1"));
      agrees(c, "v-head");
      const std::string odd = R"(with "q", {} and \)";
      must(c.query("INSERT INTO lockstep.deploys (deploy_version, schema_version, booted_by) VALUES (" +
                   detail::quote_literal(odd) + ", 2, 'hand')"));
      agrees(c, odd);
      must(c.query("UPDATE lockstep.deploys SET schema_version = 1 WHERE deploy_version = " + detail::quote_literal(odd)));
      agrees(c, odd);
      must(c.query("TRUNCATE lockstep.deploys"));
      agrees(c, "v-head");
      // Past the head, out of order in one statement: the first row extends
      // the chain, the second is older than the new head.
      must(c.query("INSERT INTO lockstep.migrations (version, name, checksum, duration_ms, deploy_version, applied_by)"
                   " VALUES (5, 'm5', 'c5', 1, 'hand', 'hand'), (4, 'm4', 'c4', 1, 'hand', 'hand')"));
      agrees(c, "v-head");
      CHECK(db.scalar("SELECT version || '/' || count FROM lockstep.head") == "5/4");
      must(c.query("TRUNCATE lockstep.migrations"));
      agrees(c, "v-head");
    }

    SUBCASE("a boot with nothing to do reads the head, not the ledger") {
      must_run(db.url(), 2);
      auto admin = db.connect();
      const std::string role = "ls_head_" + std::to_string(::getpid());
      const std::string url = role_url(db, admin, role);
      must(admin.query(TableLedger{}.grant_sql(role)));
      must(admin.query("REVOKE SELECT ON lockstep.migrations, lockstep.deploys FROM " + role));
      {
        auto r = head_run(url, 2);
        CHECK_MESSAGE(r, (r ? "" : r.error().to_string()));
        if (r) CHECK(r.value().schema_version == 2);
      }
      // The control: without the head, the same boot needs the ledger.
      must(admin.query("DROP TABLE lockstep.head"));
      {
        auto r = head_run(url, 2);
        REQUIRE_FALSE(r);
        CHECK_MESSAGE(r.error().sqlstate == "42501", r.error().to_string());
      }
      must(admin.query("DROP OWNED BY " + role));
    }

    SUBCASE("a ledger from before the head gets one from its next leader") {
      must_run(db.url(), 1);
      auto c = db.connect();
      must(c.query(no_head));
      must_run(db.url(), 2);
      CHECK(db.scalar("SELECT version FROM lockstep.head") == "2");
      agrees(c, "v-head");
    }

    SUBCASE("a head that missed an edit does not mislead a leader") {
      must_run(db.url(), 1);
      auto c = db.connect();
      // Migration 2 recorded with the head's trigger off: the head still says 1.
      must(c.query("CREATE TABLE t2 (id int); ALTER TABLE lockstep.migrations DISABLE TRIGGER USER"));
      TableLedger ledger;
      AppliedMigration m2{2, "m2", migrations(2).load().value().at(1).checksum, "", 1, "v-hand", "hand"};
      must(c.query(ledger.record_applied_sql(m2)));
      must(c.query("ALTER TABLE lockstep.migrations ENABLE TRIGGER USER"));
      REQUIRE(db.scalar("SELECT version FROM lockstep.head") == "1");
      // The boot sees 1 < 2 and elects a leader, which reads the ledger
      // itself: nothing to apply, and the schema is at 2.
      auto r = head_run(db.url(), 2);
      REQUIRE_MESSAGE(r, (r ? "" : r.error().to_string()));
      CHECK(r.value().schema_version == 2);
      CHECK(db.number("SELECT count(*) FROM lockstep.migrations") == 2);
    }

    SUBCASE("a role that may not add the head migrates without it") {
      auto admin = db.connect();
      const TableLedger ledger;
      must(admin.query(ledger.create_sql()));
      const std::string role = "ls_nohead_" + std::to_string(::getpid());
      const std::string url = role_url(db, admin, role);
      must(admin.query(ledger.grant_sql(role)));
      must(admin.query("GRANT CREATE ON SCHEMA lockstep TO " + role));  // but it does not own the ledger
      // Its table dropped by hand, its triggers left: ledger writes go on.
      must(admin.query("DROP TABLE lockstep.head"));
      // With a session lock, then with a transaction-scoped one, whose
      // leader reads the ledger inside its transaction.
      must_run(url, 1);
      must_run<TransactionLock>(url, 2);
      CHECK(db.scalar("SELECT to_regclass('lockstep.head') IS NULL") == "t");
      CHECK(db.number("SELECT count(*) FROM lockstep.migrations") == 2);
      must_run(url, 2);  // and boots, reading the ledger
      must(admin.query("DROP OWNED BY " + role));
    }
  }
}
