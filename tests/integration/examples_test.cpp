// The examples, run for real against the test server.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "metrics_text.hpp"
#include "processes.hpp"
#include "temp_dir.hpp"
#include "test_db.hpp"

using namespace lockstep::test;
using namespace std::chrono_literals;

namespace {

struct HttpAnswer {
  int status = 0;  // 0 when nothing answers
  std::string body;
};

// GET path on 127.0.0.1:port (HTTP/1.0: the server closes after the answer).
HttpAnswer http_get(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return {};
  }
  const std::string req = "GET " + path + " HTTP/1.0\r\n\r\n";
  (void)::write(fd, req.data(), req.size());
  std::string all;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) all.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  if (all.size() <= 12) return {};
  const auto blank = all.find("\r\n\r\n");
  return {std::atoi(all.substr(9, 3).c_str()), blank == std::string::npos ? "" : all.substr(blank + 4)};
}

int http_status(int port, const std::string& path) { return http_get(port, path).status; }

bool port_free(int port) { return http_status(port, "/") == 0; }

Child run_example(const std::string& program, std::vector<std::string> args, const std::string& url,
                  const std::string& tag) {
  static TempDir out{"examples-out"};
  ::setenv("DATABASE_URL_MIGRATION", url.c_str(), 1);
  Herd h{out.path() / tag};
  args.insert(args.begin(), program);
  h.spawn(1, args);
  h.release();
  h.wait_all(90s);
  ::unsetenv("DATABASE_URL_MIGRATION");
  return h.children().at(0);
}

}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("service example") {
    TestDatabase db{"service"};
    std::mt19937 rng{std::random_device{}()};
    std::vector<int> ports;
    while (ports.size() < 5) {
      const int p = 20000 + static_cast<int>(rng() % 12000);  // below the ephemeral range
      if (port_free(p)) ports.push_back(p);
    }
    TempDir out{"service-out"};
    ::setenv("DATABASE_URL_MIGRATION", db.url().c_str(), 1);
    ::setenv("LISTEN_ADDR", "127.0.0.1", 1);
    Herd herd{out.path()};
    for (int p : ports) herd.spawn(1, {LOCKSTEP_SERVICE_EXAMPLE_PATH, std::to_string(p), LOCKSTEP_SERVICE_MIGRATIONS});
    herd.release();  // all 5 start at the same instant
    ::unsetenv("DATABASE_URL_MIGRATION");
    ::unsetenv("LISTEN_ADDR");

    std::vector<bool> saw_503(ports.size(), false), saw_200(ports.size(), false);
    const auto until = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < until &&
           std::find(saw_200.begin(), saw_200.end(), false) != saw_200.end()) {
      for (std::size_t i = 0; i < ports.size(); ++i) {
        const int status = http_status(ports[i], "/readyz");
        if (status == 503 && !saw_200[i]) saw_503[i] = true;
        if (status == 200) saw_200[i] = true;
      }
      std::this_thread::sleep_for(50ms);
    }
    for (std::size_t i = 0; i < ports.size(); ++i) {
      CAPTURE(herd.children()[i].err());
      CHECK(saw_200[i]);
      CHECK(saw_503[i]);  // not ready while the migration (with its 1.5 s step) ran
      CHECK(http_status(ports[i], "/healthz") == 200);
    }
    CHECK(db.number("SELECT count(*) FROM lockstep.migrations") == 3);
    CHECK(db.number("SELECT count(*) FROM pg_indexes WHERE indexname = 'orders_placed_at_idx'") == 1);

    // Serving: each one registered (its own row, a live lease) and says so.
    CHECK(db.number("SELECT count(*) FROM lockstep.replicas WHERE expires_at > now()") == 5);
    for (std::size_t i = 0; i < ports.size(); ++i) {
      const auto ready = http_get(ports[i], "/readyz");
      CAPTURE(ready.body);
      CHECK(ready.status == 200);
      CHECK(ready.body.find(R"("ready":true,"phase":"serving","schema_version":3)") != std::string::npos);
      CHECK(ready.body.find(R"("registered":true,"compatible":true)") != std::string::npos);
      const std::string pid = ":" + std::to_string(herd.children()[i].pid) + ":";
      CHECK(db.number("SELECT count(*) FROM lockstep.replicas WHERE replica_id LIKE '%" + pid + "%'") == 1);
      CHECK(ready.body.find(pid) != std::string::npos);  // the body names the row
    }

    // /metrics: what each replica did, read by a real Prometheus parser.
    int leaders = 0, others = 0;
    for (std::size_t i = 0; i < ports.size(); ++i) {
      const auto scraped = http_get(ports[i], "/metrics");
      REQUIRE(scraped.status == 200);
      const std::string m = parsed_metrics(scraped.body);
      CAPTURE(scraped.body);
      CAPTURE(m);
      REQUIRE(m.ends_with("exit=0\n"));
      CHECK(has_line(m, "lockstep_ready 1.0"));
      CHECK(has_line(m, "lockstep_schema_version 3.0"));
      CHECK(has_line(m, "lockstep_expected_version 3.0"));
      if (has_line(m, R"(lockstep_runs_total{outcome="ready",role="leader"} 1.0)")) {
        ++leaders;
        CHECK(has_line(m, "lockstep_migrations_applied_total 3.0"));
        CHECK(has_line(m, "lockstep_migration_duration_seconds_count 3.0"));
        CHECK(has_line(m, R"(lockstep_migration_duration_seconds_bucket{le="+Inf"} 3.0)"));
        CHECK(sample(m, "lockstep_migration_duration_seconds_sum") >= 1.4);  // one step sleeps 1.5 s
        CHECK(has_line(m, "lockstep_lock_acquire_seconds_count 1.0"));
        CHECK(has_line(m, R"(lockstep_boot_duration_seconds_count{role="leader"} 1.0)"));
      } else {
        ++others;
        CHECK(has_line(m, "lockstep_migrations_applied_total 0.0"));
        const bool follower = has_line(m, R"(lockstep_runs_total{outcome="ready",role="follower"} 1.0)");
        CHECK((follower || has_line(m, R"(lockstep_runs_total{outcome="ready",role="current"} 1.0)")));
        if (follower) {  // it waited for the leader's migrations
          CHECK(has_line(m, "lockstep_lock_wait_seconds_count 1.0"));
          CHECK(sample(m, "lockstep_lock_wait_seconds_sum") > 0);
        }
      }
      CHECK(m.find("lockstep_failures_total{") == std::string::npos);
    }
    CHECK(leaders == 1);
    CHECK(others == 4);

    // SIGTERM: every one withdraws (no row left to wait out) and exits 0.
    for (auto& c : herd.children()) ::kill(c.pid, SIGTERM);
    herd.wait_all(30s);
    for (auto& c : herd.children()) {
      CAPTURE(c.err());
      CHECK(c.signal == 0);
      CHECK(c.exit_code == 0);
      CHECK(c.err().find("service: stopped") != std::string::npos);
    }
    CHECK(db.number("SELECT count(*) FROM lockstep.replicas") == 0);
  }

  TEST_CASE("minimal example") {
    TestDatabase db{"minimal"};
    auto c = run_example(LOCKSTEP_MINIMAL_EXAMPLE_PATH, {LOCKSTEP_DEMO_MIGRATIONS}, db.url(), "minimal");
    CAPTURE(c.err());
    CHECK(c.exit_code == 0);
    CHECK(c.out().find("schema 5, role leader") != std::string::npos);
  }

  TEST_CASE("custom policies example") {
    TestDatabase db{"custom"};
    auto c = run_example(LOCKSTEP_CUSTOM_POLICIES_EXAMPLE_PATH, {}, db.url(), "custom");
    CAPTURE(c.err());
    CHECK(c.exit_code == 0);
    CHECK(c.out().find("schema at version 13") != std::string::npos);
    CHECK(c.err().find("this replica leads") != std::string::npos);
    CHECK(db.number("SELECT count(*) FROM ops.schema_history") == 13);  // the ledger moved schemas
    CHECK(db.number("SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass") == 12);
  }
}
