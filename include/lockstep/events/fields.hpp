// Walks an event's fields (events/types.hpp) by kind, for the writers that
// need all of them: redaction of every string value (detail/run/emitter.hpp),
// the JSON line (json_sink.hpp) and the list of fields (catalog.hpp).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "lockstep/events/types.hpp"

namespace lockstep::events {

template <class T>
inline constexpr bool is_optional = false;
template <class T>
inline constexpr bool is_optional<std::optional<T>> = true;

template <class T>
inline constexpr bool is_vector = false;
template <class T>
inline constexpr bool is_vector<std::vector<T>> = true;

template <class T>
concept HasFields = requires(T& t) { T::fields(t, [](auto&&, auto&&) {}); };

// Calls `f(std::string&)` on every string value it is given, nested ones
// included (an unset optional has none).
template <class F>
struct StringWalk {
  F& f;
  template <class T>
  void operator()(std::string_view, T& x) const {
    if constexpr (std::is_same_v<T, std::string>) {
      f(x);
    } else if constexpr (is_optional<T>) {
      if (x) (*this)({}, *x);
    } else if constexpr (is_vector<T>) {
      for (auto& y : x) (*this)({}, y);
    } else if constexpr (HasFields<T>) {
      T::fields(x, *this);
    } else {
      // Any other kind of field would reach the sinks unredacted: a new one
      // (a map, an array of strings) must be walked here first.
      static_assert(std::is_arithmetic_v<T> || std::is_enum_v<T> || std::is_same_v<T, Flag>,
                    "an event field of a kind StringWalk does not walk would skip redaction");
    }
  }
  template <class T>
  void operator()(Inlined, std::optional<T>& x) const {
    if (x) T::fields(*x, *this);
  }
};

template <class Body, class F>
void for_each_string(Body& body, F&& f) {
  Body::fields(body, StringWalk<std::remove_reference_t<F>>{f});
}

}  // namespace lockstep::events
