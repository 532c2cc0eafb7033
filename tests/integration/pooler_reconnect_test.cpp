// RECONNECT on PgBouncer after a row-type change (issue #34 part 1;
// docs/schema-changes.md): against the real PgBouncer the suite starts
// (Debian's 1.18, transaction pooling). That version predates
// max_prepared_statements, so what is shown is the mechanism: the server
// connections behind PgBouncer (their backend pids) are replaced after a
// migration that changed a row type, and left alone after one that did not.
#include <doctest/doctest.h>

#include <libpq-fe.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "events.hpp"
#include "lockstep/lockstep.hpp"
#include "test_db.hpp"

using namespace lockstep;
using namespace lockstep::test;
using namespace std::chrono_literals;

namespace {

using Memory = Migrator<TryLock, NotifyBackoff, Deadline<>, MemorySource>;

std::string admin_url() {
  const std::string bouncer = pgbouncer_url();
  REQUIRE_MESSAGE(!bouncer.empty(), "no PgBouncer: run through ctest (fixture pgbouncer)");
  return url_for_database(bouncer, "pgbouncer");
}

// The backend pid of the server connection PgBouncer gives a client for one
// statement (transaction pooling: the pool's connection, returned after it).
int server_pid_via_pgbouncer(const std::string& db) {
  PGconn* c = PQconnectdb(url_for_database(pgbouncer_url(), db).c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    const std::string why = PQerrorMessage(c);
    PQfinish(c);
    throw std::runtime_error(why);
  }
  PGresult* r = PQexec(c, "SELECT pg_backend_pid()");
  const int pid = PQresultStatus(r) == PGRES_TUPLES_OK ? std::stoi(PQgetvalue(r, 0, 0)) : 0;
  PQclear(r);
  PQfinish(c);
  return pid;
}

bool alive(const TestDatabase& db, int pid) {
  return db.number("SELECT count(*) FROM pg_stat_activity WHERE pid = " + std::to_string(pid)) == 1;
}

// Whether `pid` is gone within `wait` (RECONNECT closes an idle server connection at once).
bool gone_within(const TestDatabase& db, int pid, std::chrono::milliseconds wait) {
  const auto until = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < until) {
    if (!alive(db, pid)) return true;
    std::this_thread::sleep_for(50ms);
  }
  return !alive(db, pid);
}

Memory migrator(const TestDatabase& db, std::vector<MigrationSpec> ms, std::vector<std::string> admins, EventLog& log,
                std::chrono::seconds deadline = 60s) {
  Settings s;
  s.database_url = db.url();
  s.pooler_admin_urls = std::move(admins);
  s.on_event = log.sink();
  return Memory{s, MemorySource{std::move(ms)}, Deadline<>{deadline}};
}

// A console that takes the TCP connection (the kernel's backlog) and never
// says a word: only the deadline ends a wait for it.
class SilentListener {
 public:
  SilentListener() : fd_{::socket(AF_INET, SOCK_STREAM, 0)} {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 8) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      throw std::runtime_error("cannot listen");
    }
    port_ = ntohs(a.sin_port);
  }
  ~SilentListener() { ::close(fd_); }
  SilentListener(const SilentListener&) = delete;
  SilentListener& operator=(const SilentListener&) = delete;
  [[nodiscard]] int port() const noexcept { return port_; }

 private:
  int fd_;
  int port_ = 0;
};

std::vector<LoggedEvent> named(const EventLog& log, const std::string& name) {
  std::vector<LoggedEvent> out;
  for (const auto& e : log.all()) {
    if (e.name == name) out.push_back(e);
  }
  return out;
}

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("pooler: RECONNECT after a row-type change replaces PgBouncer's server connections, and nothing is sent without one") {
    TestDatabase db{"pooler_rc"};
    db.exec("CREATE TABLE t (id int PRIMARY KEY, a int)");
    const int before = server_pid_via_pgbouncer(db.name());
    REQUIRE(before > 0);
    REQUIRE(alive(db, before));  // idle in PgBouncer's pool

    // A migration that changes no row type: nothing is sent, the server connection stays.
    {
      EventLog log;
      auto r = migrator(db, {{1, "index", "CREATE INDEX t_a ON t (a);\n"}}, {admin_url()}, log).run();
      REQUIRE(r);
      CHECK(log.count("pooler_reconnected") == 0);
      std::this_thread::sleep_for(300ms);
      CHECK(alive(db, before));
      CHECK(server_pid_via_pgbouncer(db.name()) == before);
    }
    // One that does: RECONNECT, and the server connection is replaced.
    EventLog log;
    auto r = migrator(db, {{1, "index", "CREATE INDEX t_a ON t (a);\n"}, {2, "add", "ALTER TABLE t ADD COLUMN b int;\n"}},
                      {admin_url()}, log)
                 .run();
    REQUIRE(r);
    const auto sent = named(log, "pooler_reconnected");
    REQUIRE(sent.size() == 1);
    CHECK(sent[0].json.find("\"ok\":true") != std::string::npos);
    CHECK(sent[0].json.find("\"database\":\"" + db.name() + "\"") != std::string::npos);
    CHECK(log.count("warning") == 0);
    CHECK(gone_within(db, before, 5s));
    const int after = server_pid_via_pgbouncer(db.name());
    CHECK(after > 0);
    CHECK(after != before);
  }

  TEST_CASE("pooler: without an admin URL a row-type change sends nothing and the server connection stays") {
    TestDatabase db{"pooler_none"};
    db.exec("CREATE TABLE t (id int PRIMARY KEY)");
    const int before = server_pid_via_pgbouncer(db.name());
    EventLog log;
    auto r = migrator(db, {{1, "add", "ALTER TABLE t ADD COLUMN b int;\n"}}, {}, log).run();
    REQUIRE(r);
    CHECK(log.count("pooler_reconnected") == 0);
    std::this_thread::sleep_for(300ms);
    CHECK(alive(db, before));
  }

  TEST_CASE("pooler: reconnect= in the admin URL names PgBouncer's database") {
    TestDatabase db{"pooler_alias"};
    db.exec("CREATE TABLE t (id int PRIMARY KEY)");
    EventLog log;
    auto r = migrator(db, {{1, "add", "ALTER TABLE t ADD COLUMN b int;\n"}}, {admin_url() + "?reconnect=lockstep_alias"},
                      log)
                 .run();
    REQUIRE(r);
    const auto sent = named(log, "pooler_reconnected");
    REQUIRE(sent.size() == 1);
    CHECK(sent[0].json.find("\"database\":\"lockstep_alias\"") != std::string::npos);
    CHECK(sent[0].json.find("\"ok\":true") != std::string::npos);
  }

  TEST_CASE("pooler: an unreachable admin console is a warning within the deadline, the run succeeds, its password is never shown") {
    TestDatabase db{"pooler_down"};
    db.exec("CREATE TABLE t (id int PRIMARY KEY)");
    EventLog log;
    const std::string secret = "pooler-Secret-7781";
    const auto t0 = std::chrono::steady_clock::now();
    // Port 1 refuses at once; 192.0.2.1 (TEST-NET-1) never answers: bounded by connect_timeout and the deadline.
    auto r = migrator(db, {{1, "add", "ALTER TABLE t ADD COLUMN b int;\n"}},
                      {"postgresql://admin:" + secret + "@127.0.0.1:1/pgbouncer",
                       "postgresql://admin:" + secret + "@192.0.2.1:6432/pgbouncer?connect_timeout=2"},
                      log, 20s)
                 .run();
    const auto took = std::chrono::steady_clock::now() - t0;
    REQUIRE_MESSAGE(r, r.error().to_string());
    CHECK(took < 15s);
    const auto sent = named(log, "pooler_reconnected");
    REQUIRE(sent.size() == 2);
    for (const auto& e : sent) CHECK(e.json.find("\"ok\":false") != std::string::npos);
    CHECK(sent[0].json.find("127.0.0.1:1") != std::string::npos);
    CHECK(log.count("warning") == 2);
    for (const auto& e : log.all()) CHECK_MESSAGE(e.json.find(secret) == std::string::npos, e.json);
    CHECK(db.number("SELECT count(*) FROM lockstep.migrations WHERE version = 1") == 1);
  }

  TEST_CASE("pooler: reconnect= is lockstep's parameter, taken out of the admin URL before libpq sees it") {
    // [snippet:pooler-settings]
    lockstep::Settings s;
    s.pooler_admin_urls = {"postgresql://pgbouncer_admin:secret@bouncer:6432/pgbouncer"};
    // [/snippet:pooler-settings]
    const auto plain = detail::split_pooler_url(s.pooler_admin_urls[0]);
    CHECK(plain.url == s.pooler_admin_urls[0]);
    CHECK(!plain.database);
    const auto named = detail::split_pooler_url("postgresql://a@b:6432/pgbouncer?sslmode=disable&reconnect=app%5Fdb&connect_timeout=3");
    CHECK(named.url == "postgresql://a@b:6432/pgbouncer?sslmode=disable&connect_timeout=3");
    CHECK(named.database == std::optional<std::string>{"app_db"});
    CHECK(detail::split_pooler_url("postgresql://a@b/pgbouncer?reconnect=x").url == "postgresql://a@b/pgbouncer");
    CHECK(detail::reconnect_command("we\"ird") == "RECONNECT \"we\"\"ird\"");
  }

  TEST_CASE("pooler: a console that never answers is given up at the run's deadline, and the run still succeeds") {
    TestDatabase db{"pooler_silent"};
    db.exec("CREATE TABLE t (id int PRIMARY KEY)");
    SilentListener silent;
    EventLog log;
    const auto t0 = std::chrono::steady_clock::now();
    auto r = migrator(db, {{1, "add", "ALTER TABLE t ADD COLUMN b int;\n"}},
                      {"postgresql://admin@127.0.0.1:" + std::to_string(silent.port()) + "/pgbouncer"}, log, 6s)
                 .run();
    const auto took = std::chrono::steady_clock::now() - t0;
    REQUIRE_MESSAGE(r, r.error().to_string());
    CHECK(took >= 3s);           // it did wait for the console
    CHECK(took < 6s + 1500ms);   // and not past the deadline
    const auto sent = named(log, "pooler_reconnected");
    REQUIRE(sent.size() == 1);
    CHECK(sent[0].json.find("\"ok\":false") != std::string::npos);
    CHECK(log.count("warning") == 1);
    CHECK(db.number("SELECT count(*) FROM lockstep.migrations WHERE version = 1") == 1);
  }
}
