// checks/check.hpp: the checks' entry points keep the "no exception" promise.
// Every allocation check() makes is failed in turn (std::bad_alloc, through
// a replaced global operator new that fails the n-th allocation from when
// it is armed, once): each run ends in a result, an internal_error or the
// findings, and never in an exception.
#include <doctest/doctest.h>

#include <cstdlib>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "lockstep/checks/check.hpp"

namespace {
thread_local long allocations_left = 0;  // > 0: the allocation that brings it to 0 throws
thread_local bool allocation_failed = false;
}  // namespace

// Replaced for the whole unit test binary; unarmed it is malloc.
void* operator new(std::size_t n) {
  if (allocations_left > 0 && --allocations_left == 0) {
    allocation_failed = true;
    throw std::bad_alloc{};
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc{};
}
// GCC (-O1 and up) inlines these into code whose new it cannot see is this
// malloc, and warns of a mismatch (-Wmismatched-new-delete) that is not one.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

using namespace lockstep;

TEST_SUITE("unit") {
  TEST_CASE("lockstep::check and Checker: an exception (out of memory) becomes internal_error") {
    const Migration m{1, "m",
                      "-- lockstep:allow=json_column kept\n"
                      "CREATE TABLE fresh (a int, doc json);\n"
                      "ALTER TABLE orders ADD COLUMN n int NOT NULL, ADD CHECK (total > 0);\n"
                      "CREATE INDEX ON orders (total);\n"
                      "ALTER TYPE s ADD VALUE 'x';\n"
                      "UPDATE other SET note = 'x';\n",
                      "db/0001_m.sql", "x"};
    const CheckOptions options;
    static_assert(noexcept(check(m, options)));
    static_assert(noexcept(std::declval<Checker&>().read(m)));
    static_assert(noexcept(std::declval<Checker&>().lock_findings(m, std::declval<const CheckedMigration&>())));

    auto clean = check(m, options);
    REQUIRE(clean);
    const std::size_t expected = clean.value().size();
    CHECK(expected >= 4);

    long failed = 0;
    for (long n = 1;; ++n) {
      allocations_left = n;
      allocation_failed = false;
      auto r = check(m, options);  // noexcept: an exception escaping would end the process
      const bool hit = allocation_failed;
      allocations_left = 0;
      if (!hit) {
        // Every allocation of a run was failed once: this run made fewer than n.
        REQUIRE(r);
        CHECK(r.value().size() == expected);
        break;
      }
      ++failed;
      if (!r) {
        CAPTURE(n);
        CHECK(r.error().code == errc::internal_error);
      }
      REQUIRE(n < 1'000'000);
    }
    MESSAGE(failed << " allocations of check() failed in turn");
    CHECK(failed > 50);
  }
}
