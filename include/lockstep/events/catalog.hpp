// The list of events and their fields, read from the event types
// (events/types.hpp): what tests/support/event_catalog.cpp prints, and what
// docs/schema/events.schema.json and docs' events table are checked against.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "lockstep/events/event.hpp"
#include "lockstep/events/fields.hpp"

namespace lockstep::events {

struct FieldInfo {
  std::string_view name;
  std::string_view type;  // as JSON Schema names it: string, integer, boolean, array
  bool required = true;   // false: written only when set
};

struct EventInfo {
  std::string_view name;
  std::vector<FieldInfo> fields;  // the header's first, in the order they are written
};

template <class T>
[[nodiscard]] constexpr std::string_view json_type() {
  if constexpr (is_optional<T>) {
    return json_type<typename T::value_type>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    return "string";
  } else if constexpr (std::is_same_v<T, std::int64_t>) {
    return "integer";
  } else if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, Flag>) {
    return "boolean";
  } else {
    static_assert(is_vector<T>, "an event field is a string, an integer, a boolean, an optional or a vector");
    return "array";
  }
}

struct Describe {
  std::vector<FieldInfo>& out;
  bool optional_here = false;  // inside an inlined optional struct: every field optional

  template <class T>
  void operator()(std::string_view key, const T&) const {
    const bool required = !optional_here && !is_optional<T> && !std::is_same_v<T, Flag>;
    out.push_back({key, json_type<T>(), required});
  }
  template <class T>
  void operator()(Inlined, const std::optional<T>&) const {
    const T inner{};
    T::fields(inner, Describe{out, true});
  }
};

// Every event, in EventBody's order.
[[nodiscard]] inline std::vector<EventInfo> catalog() {
  std::vector<EventInfo> all;
  for_each_type([&]<class E>(std::type_identity<E>) {
    EventInfo info{E::name,
                   {{"event", "string"}, {"ts", "string"}, {"elapsed_ms", "integer"}, {"pid", "integer"},
                    {"host", "string"}}};
    const E sample{};
    E::fields(sample, Describe{info.fields});
    all.push_back(std::move(info));
  });
  return all;
}

}  // namespace lockstep::events
