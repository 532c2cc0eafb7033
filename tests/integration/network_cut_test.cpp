// A leader whose network vanishes (node lost, link cut) must not keep the
// lock for TCP's default ~2 h. The leader runs in its own network namespace,
// connected over a veth link to a dedicated server; mid-migration its link
// goes down (packets dropped, sockets left open) and a follower on loopback
// must take over within the documented bound (docs: 30 s).
#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "cli.hpp"
#include "files.hpp"
#include "processes.hpp"
#include "temp_dir.hpp"
#include "test_db.hpp"

using namespace lockstep;
using namespace lockstep::test;
using namespace std::chrono_literals;

namespace {

bool shell_ok(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }

// Our own test host: a network namespace and a veth pair, removed on exit.
class NetnsHost {
 public:
  NetnsHost() {
    const int id = static_cast<int>(::getpid() % 200) + 20;
    ns_ = "lsns" + std::to_string(::getpid());
    host_if_ = "lsh" + std::to_string(::getpid() % 100000);
    peer_if_ = "lsp" + std::to_string(::getpid() % 100000);
    host_ip_ = "10.231." + std::to_string(id) + ".1";
    peer_ip_ = "10.231." + std::to_string(id) + ".2";
    cidr_ = "10.231." + std::to_string(id) + ".0/30";
    ok_ = shell_ok("ip netns add " + ns_) && shell_ok("ip link add " + host_if_ + " type veth peer name " + peer_if_) &&
          shell_ok("ip link set " + peer_if_ + " netns " + ns_) && shell_ok("ip addr add " + host_ip_ + "/30 dev " + host_if_) &&
          shell_ok("ip link set " + host_if_ + " up") &&
          shell_ok("ip netns exec " + ns_ + " ip addr add " + peer_ip_ + "/30 dev " + peer_if_) &&
          shell_ok("ip netns exec " + ns_ + " ip link set " + peer_if_ + " up") &&
          shell_ok("ip netns exec " + ns_ + " ip link set lo up");
  }
  ~NetnsHost() {
    shell_ok("ip netns del " + ns_);
    shell_ok("ip link del " + host_if_);
  }
  NetnsHost(const NetnsHost&) = delete;
  NetnsHost& operator=(const NetnsHost&) = delete;

  [[nodiscard]] bool ok() const { return ok_; }
  // Drops every packet of the leader's link; its sockets stay open.
  [[nodiscard]] bool cut() const { return shell_ok("ip netns exec " + ns_ + " ip link set " + peer_if_ + " down"); }

  std::string ns_, host_if_, peer_if_, host_ip_, peer_ip_, cidr_;

 private:
  bool ok_ = false;
};

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("leader network cut") {
    if (::geteuid() != 0 || !shell_ok("ip -V")) {
      if (in_ci()) FAIL("CI must be able to create network namespaces (root and iproute2)");
      WARN_MESSAGE(false, "needs root and iproute2 for network namespaces; skipped");
      return;
    }
    NetnsHost netns;
    REQUIRE_MESSAGE(netns.ok(), "could not create a network namespace and veth pair");

    // A dedicated server that also listens on the veth link.
    TempDir state{"netns-pg"};
    const std::string script = std::string{LOCKSTEP_SUPPORT_DIR} + "/pg_server.sh";
    REQUIRE(shell_ok("LOCKSTEP_PG_EXTRA_LISTEN=" + netns.host_ip_ + " LOCKSTEP_PG_EXTRA_HBA=" + netns.cidr_ + " " +
                script + " start " + state.path().string() + " '" + server_bindir() + "'"));
    struct Stop {
      std::string cmd;
      ~Stop() { shell_ok(cmd); }
    } stop{script + " stop " + state.path().string()};
    const std::string loopback = read_first_line(state.path() / "url");
    const std::string port = read_first_line(state.path() / "port");
    REQUIRE(shell_ok("psql -X -q -d '" + loopback + "' -c 'CREATE DATABASE cut'"));
    const std::string db_loopback = url_for_database(loopback, "cut");
    const std::string db_veth = "postgresql://postgres@" + netns.host_ip_ + ":" + port + "/cut";

    TempDir migrations{"netns-migrations"};
    write_table_migrations(migrations, 1);
    // Only the leader, on the veth link, is slow: the follower that takes
    // over runs the same file at once, so the test measures the takeover.
    migrations.write("0002_slow.sql", "CREATE TABLE slow (id int);\nSELECT pg_sleep(CASE WHEN inet_client_addr() = '" +
                                          netns.peer_ip_ + "' THEN 120 ELSE 0 END);\n");
    write_table_migrations(migrations, 1, 3);

    TempDir out{"netns-out"};
    Herd leader{out.path() / "leader"};
    leader.spawn(1, {"/usr/sbin/ip", "netns", "exec", netns.ns_, cli_path(), "migrate", "--dir",
                     migrations.path().string(), "--url", db_veth, "--timeout", "180s", "--host", "leader"});
    leader.release();
    REQUIRE(leader.wait_for_output("\"version\":2,\"name\":\"slow\"", 30s) == 0);

    Herd followers{out.path() / "followers"};
    followers.spawn(2, {cli_path(), "migrate", "--dir", migrations.path().string(), "--url", db_loopback, "--timeout",
                        "120s", "--host", "follower"});
    followers.release();
    REQUIRE(followers.wait_for_output("\"event\":\"lock_busy\"", 30s) >= 0);

    std::this_thread::sleep_for(1s);
    const auto cut_at = std::chrono::steady_clock::now();
    REQUIRE(netns.cut());
    const int taker = followers.wait_for_output("\"event\":\"migration_applied\"", 60s);
    const auto took = std::chrono::steady_clock::now() - cut_at;
    REQUIRE_MESSAGE(taker >= 0, "no follower took over within 60 s of the cut");
    followers.wait_all(60s);
    MESSAGE("a follower took over "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms after the leader's link was cut");
    CHECK(took < 30s);
    for (const auto& c : followers.children()) {
      CAPTURE(c.err());
      CHECK(c.exit_code == 0);
    }
    ::kill(leader.children()[0].pid, SIGKILL);
    leader.wait_all(10s);

    auto check = [&](const std::string& sql) {
      auto conn = connect_or_fail(db_loopback);
      auto rows = must(conn.query(sql));
      return rows.empty() || !rows[0][0] ? std::string{} : *rows[0][0];
    };
    CHECK(check("SELECT count(*) FROM lockstep.migrations") == "3");
    CHECK(check("SELECT applied_by FROM lockstep.migrations WHERE version = 2") == "follower");
  }
}
