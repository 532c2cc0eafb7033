// A Migrator that never sleeps and never reaches a server: its clock is a
// FakeClock and its URL a loopback port where nothing listens (connection
// refused at once), so every wait it makes is a fake sleep a test can add
// up, and every check before connecting runs as in a real boot.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "lockstep/lockstep.hpp"
#include "lockstep/testing/fake_clock.hpp"
#include "events.hpp"

namespace lockstep::test {

using FakeMigrator = Migrator<NoLock, ExponentialBackoff, Deadline<testing::FakeClock>, MemorySource>;

// Settings for that port, every event appended to `events`.
inline Settings unreachable(std::vector<LoggedEvent>& events, std::string url = "postgresql://nobody@127.0.0.1:1/none") {
  Settings s;
  s.database_url = std::move(url);
  s.on_event = [&events](const Event& e) { events.push_back({std::string{e.name}, to_json(e)}); };
  return s;
}

}  // namespace lockstep::test
