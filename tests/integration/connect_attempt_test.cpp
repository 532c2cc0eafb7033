// What run() leaves behind when it returns early. The first connection
// attempt runs on a thread of its own while the files load; a run that then
// fails on its files must not return with that thread still inside libpq,
// because the application exits next and exit runs the TLS and Kerberos
// libraries' cleanup under it (the lockstep program aborted in
// krb5int_getspecific about once in 200 runs on a missing directory).
#include <doctest/doctest.h>

#include <dirent.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "lockstep/lockstep.hpp"
#include "tcp_proxy.hpp"
#include "temp_dir.hpp"

using namespace lockstep;
using namespace lockstep::test;
using namespace std::chrono_literals;

namespace {
int thread_count() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/task")) {
    while (const dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
    ::closedir(d);
  }
  return n;
}

// The count falls to `limit` within `grace` (a finished thread takes a
// moment to leave /proc).
bool threads_settle_to(int limit, std::chrono::milliseconds grace) {
  const auto until = std::chrono::steady_clock::now() + grace;
  while (thread_count() > limit) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}
}  // namespace

TEST_SUITE("integration") {
  TEST_CASE("ConnectAttempt" * doctest::test_suite("pg_sample")) {
    SUBCASE("a run that fails on its files returns with no thread left connecting") {
      // A server that takes 300 ms to refuse: the listener closes, and the
      // handshake waiting in its backlog is reset.
      auto slow = std::make_unique<BlackHole>();
      const auto port = slow->port();
      std::thread closer{[&slow] {
        std::this_thread::sleep_for(300ms);
        slow.reset();
      }};
      const int before = thread_count();  // the closer included
      TempDir dir{"leftover"};
      Settings s;
      s.database_url = "host=127.0.0.1 port=" + std::to_string(port) + " user=nobody dbname=none";
      s.connect_timeout = 5s;
      auto r = Migrator<>{s, DirectorySource{dir.path() / "missing"}, Deadline<>{10s}}.run();
      const bool settled = threads_settle_to(before, 100ms);
      closer.join();
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::source_invalid);
      CHECK(r.error().message.find("missing") != std::string::npos);
      CHECK(settled);
    }
    SUBCASE("the wait for it is bounded: a host that never answers is left at connect_timeout") {
      BlackHole never;
      TempDir dir{"leftover-bound"};
      Settings s;
      s.database_url = "host=127.0.0.1 port=" + std::to_string(never.port()) + " user=nobody dbname=none";
      s.connect_timeout = 1s;
      const auto t0 = std::chrono::steady_clock::now();
      auto r = Migrator<>{s, DirectorySource{dir.path() / "missing"}, Deadline<>{30s}}.run();
      const auto took = std::chrono::steady_clock::now() - t0;
      REQUIRE_FALSE(r);
      CHECK(r.error().code == errc::source_invalid);
      CHECK(took >= 900ms);
      CHECK(took < 3s);
    }
  }
}
