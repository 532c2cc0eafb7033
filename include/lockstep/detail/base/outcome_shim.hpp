// The one place that spells Boost.Outcome's TRY macros.
//
// Boost 1.74 ships Outcome v2.2 pre-release, whose BOOST_OUTCOME_TRY(v, expr)
// declares `auto&& v` itself; Boost >= 1.76 wants the declaration spelled out
// (BOOST_OUTCOME_TRY(auto&& v, expr)). Everything in lockstep uses LOCKSTEP_TRY
// and LOCKSTEP_TRYV so the library compiles against both.
#pragma once

#include <boost/outcome/std_result.hpp>
#include <boost/outcome/try.hpp>
#include <boost/version.hpp>

namespace lockstep {
namespace outcome = BOOST_OUTCOME_V2_NAMESPACE;
}  // namespace lockstep

#if BOOST_VERSION < 107600
#define LOCKSTEP_TRY(var, ...) BOOST_OUTCOME_TRY(var, __VA_ARGS__)
#else
#define LOCKSTEP_TRY(var, ...) BOOST_OUTCOME_TRY(auto&& var, __VA_ARGS__)
#endif

// Wrapped in a block so it is one statement (safe as the body of an if/for).
#define LOCKSTEP_TRYV(...) \
  do {                     \
    BOOST_OUTCOME_TRYV(__VA_ARGS__); \
  } while (false)
