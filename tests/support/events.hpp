// Collects a run's events for assertions.
#pragma once

#include <algorithm>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "event_dump.hpp"
#include "lockstep/events.hpp"

namespace lockstep::test {

// An event as a test reads it: its name and the line the JSON sink writes.
struct LoggedEvent {
  std::string name;
  std::string json;
};

class EventLog {
 public:
  [[nodiscard]] EventSink sink() {
    return [this](const Event& e) {
      LoggedEvent logged{std::string{e.name}, to_json(e)};
      dump_json_lines(logged.json + '\n');
      std::lock_guard lk{mutex_};
      events_.push_back(std::move(logged));
    };
  }
  [[nodiscard]] std::size_t count(const std::string& name) const {
    std::lock_guard lk{mutex_};
    return static_cast<std::size_t>(
        std::count_if(events_.begin(), events_.end(), [&](const LoggedEvent& e) { return e.name == name; }));
  }
  [[nodiscard]] std::vector<LoggedEvent> all() const {
    std::lock_guard lk{mutex_};
    return events_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<LoggedEvent> events_;
};

}  // namespace lockstep::test
