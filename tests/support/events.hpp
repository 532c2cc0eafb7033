// Collects a run's events for assertions.
#pragma once

#include <algorithm>
#include <mutex>
#include <string>
#include <vector>

#include "event_dump.hpp"
#include "lockstep/events.hpp"

namespace lockstep::test {

class EventLog {
 public:
  [[nodiscard]] EventSink sink() {
    return [this](const Event& e) {
      dump_json_lines(e.json + '\n');
      std::lock_guard lk{mutex_};
      events_.push_back(e);
    };
  }
  [[nodiscard]] std::size_t count(const std::string& name) const {
    std::lock_guard lk{mutex_};
    return static_cast<std::size_t>(
        std::count_if(events_.begin(), events_.end(), [&](const Event& e) { return e.name == name; }));
  }
  [[nodiscard]] std::vector<Event> all() const {
    std::lock_guard lk{mutex_};
    return events_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<Event> events_;
};

}  // namespace lockstep::test
