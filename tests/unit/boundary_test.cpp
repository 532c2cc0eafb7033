// "No exception escapes run()": whatever a policy or the standard library
// throws becomes an Error, and a process at its thread limit gets a clear
// internal_error instead of std::system_error (or a run without a deadline).
#include <doctest/doctest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>
#include <vector>

#include "lockstep/lockstep.hpp"

using namespace lockstep;
using namespace std::chrono_literals;

namespace {
struct ThrowingSource {
  [[nodiscard]] result<std::vector<Migration>> load() const { throw std::runtime_error("disk on fire"); }
};

Settings unreachable() {
  Settings s;
  s.database_url = "host=127.0.0.1 port=1 user=x dbname=y password=never-printed";
  s.on_event = null_sink();
  return s;
}
}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("Migrator boundary: a throwing policy becomes internal_error") {
    std::vector<std::string> events;
    auto s = unreachable();
    s.on_event = [&](const Event& e) { events.push_back(to_json(e)); };
    auto r = Migrator<TryLock, NotifyBackoff, Deadline<>, ThrowingSource>{s}.run();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::internal_error);
    CHECK(r.error().message.find("disk on fire") != std::string::npos);
    REQUIRE_FALSE(events.empty());
    CHECK(events.back().find("\"class\":\"internal_error\"") != std::string::npos);
  }

  TEST_CASE("Migrator boundary: an event sink that throws") {
    auto s = unreachable();
    s.on_event = [](const Event&) { throw std::logic_error("sink broke"); };
    auto r = Migrator<TryLock, NotifyBackoff, Deadline<>, MemorySource>{s, MemorySource{}}.run();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::internal_error);
  }

  TEST_CASE("Migrator boundary: no thread can be started") {
    // A child process at its thread limit (RLIMIT_NPROC applies to non-root
    // users, so root drops to nobody first).
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      if (::getuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(90);
      const rlimit none{0, 0};
      if (::setrlimit(RLIMIT_NPROC, &none) != 0) ::_exit(91);
      auto r = Migrator<TryLock, NotifyBackoff, Deadline<>, MemorySource>{unreachable(), MemorySource{},
                                                                          Deadline<>{2s}}
                   .run();
      if (r) ::_exit(92);
      if (r.error().code != errc::internal_error) ::_exit(93);
      if (r.error().message.find("thread or pid limit") == std::string::npos) ::_exit(94);
      ::_exit(0);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
}

// Migrator::heartbeat copies the Migrator for the beat thread: a policy (or a
// sink) whose copy throws must become internal_error, not std::terminate from
// a noexcept function. Run in a child, which such a terminate would abort.
namespace {
bool copy_armed = false;
struct CopyThrowingSource {
  CopyThrowingSource() = default;
  CopyThrowingSource(const CopyThrowingSource&) {
    if (copy_armed) throw std::runtime_error("source copy failed");
  }
  CopyThrowingSource(CopyThrowingSource&&) noexcept = default;
  CopyThrowingSource& operator=(const CopyThrowingSource&) = default;
  CopyThrowingSource& operator=(CopyThrowingSource&&) noexcept = default;
  [[nodiscard]] result<std::vector<Migration>> load() const { return std::vector<Migration>{}; }
};
}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("Migrator boundary: a policy whose copy throws as the heartbeat starts") {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      Migrator<TryLock, NotifyBackoff, Deadline<>, CopyThrowingSource> m{unreachable()};
      Report report;
      copy_armed = true;
      auto hb = m.heartbeat(report, HeartbeatOptions{});
      copy_armed = false;
      if (hb) ::_exit(92);
      if (hb.error().code != errc::internal_error) ::_exit(93);
      ::_exit(0);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK_FALSE(WIFSIGNALED(status));  // SIGABRT: std::terminate from a noexcept function
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
}
