// What a sink receives: one typed event. Like spdlog's log_msg, the event
// carries values and the sink formats them (events/json_sink.hpp writes the
// JSON line; metrics.hpp counts and times).
//
//   settings.on_event = [](const lockstep::Event& e) {
//     if (const auto* ready = std::get_if<lockstep::events::Ready>(&e.body)) { ... ready->duration_ms ... }
//   };
//
// Every string value (header and body) has passed the run's redaction before
// a sink sees it: a sink may print any field.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "lockstep/events/types.hpp"

namespace lockstep {

// The fields every event shares, written first: `event`, `ts`, `elapsed_ms`,
// `pid`, `host`.
struct EventHeader {
  std::string event;  // the name as written: redacted like every string value (a password "ready" -> "***")
  std::string ts;     // UTC, ISO 8601 with milliseconds
  std::int64_t elapsed_ms = 0;  // since the run started
  std::int64_t pid = 0;
  std::string host;
};

// One alternative per event (events/types.hpp): the list of events.
using EventBody =
    std::variant<events::Boot, events::ConnectRetry, events::LockAcquired, events::LockBusy, events::Waiting,
                 events::Reconnecting, events::Lint, events::MigrationStarted, events::MigrationRetry,
                 events::MigrationApplied, events::MigrationFailed, events::Plan, events::InvalidIndexDropped,
                 events::Resolved, events::LockReleased, events::Warning, events::Progress, events::LeaderActivity,
                 events::ContractWaiting, events::ReplicaRegistered, events::ReplicaReregistered,
                 events::ReplicaWithdrawn, events::Beat, events::BeatFailed, events::BeatRecovered, events::SchemaChanged, events::ServiceWaiting, events::PoolerReconnected, events::BackgroundQueued, events::BackgroundStarted, events::BackgroundBatch, events::BackgroundStatement,
                 events::BackgroundRetry, events::BackgroundThrottled, events::BackgroundSucceeded, events::BackgroundFailed,
                 events::BackgroundSkipped, events::BackgroundError, events::Ready,
                 events::Error>;

struct Event {
  std::string_view name;  // the body's type name ("boot", "ready", ...), to dispatch on: never redacted
  EventHeader header;
  EventBody body;
};

using EventSink = std::function<void(const Event&)>;

namespace events {

// Calls `f(std::type_identity<E>{})` for every event type, in EventBody's order.
template <class F>
void for_each_type(F&& f) {
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (f(std::type_identity<std::variant_alternative_t<I, EventBody>>{}), ...);
  }(std::make_index_sequence<std::variant_size_v<EventBody>>{});
}

}  // namespace events
}  // namespace lockstep
