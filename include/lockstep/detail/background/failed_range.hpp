// What a runner does with a batch that rolled back (runner.hpp,
// JobRunner::failed_batch), decided from the SQLSTATE alone: the server's
// words may be in any language (docs/promises.md, promise 12).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lockstep {

// A range a batch cannot get through (an error in its rows, or a timeout
// at one row): the job stops there (`stop`, the default: a person looks),
// or the runner skips that one key and goes on (`skip`: each skipped key
// is in the failure log, the job's last_error and a background_skipped
// event). BackgroundOptions::on_failed_range, --on-failed-range.
enum class FailedRange { stop, skip };

namespace detail {

enum class OnBatchError {
  retry,  // the same batch again after a pause: a lock or a deadlock, or a timeout at one row before the limit
  halve,  // a statement timeout: half the size, never grown back past it
  split,  // an error in one of its rows (skip only): half the size until the batch is that one row
  skip,   // the one key of the batch is passed over (skip only)
  fail,   // the job stops, its failure recorded
};

// An error a row's values cause, which another row does not: a data
// exception (22: a bad cast, a division by zero, a value out of range), an
// integrity constraint (23: unique, foreign key, check, not null, at the
// statement or deferred to COMMIT), or one the file raises (P0: RAISE,
// ASSERT). Anything else (a missing privilege, column or function, the
// server's resources) fails every row alike: skipping would pass over the
// whole table.
[[nodiscard]] inline bool row_error(std::string_view sqlstate) noexcept {
  return sqlstate.size() == 5 &&
         (sqlstate.starts_with("22") || sqlstate.starts_with("23") || sqlstate.starts_with("P0"));
}

// `in_file`: the error is the file's (its batch), not lockstep's probe of
// the table. `size`: the batch's size. `timeouts_at_one_row`: with this
// one, the statement timeouts in a row of the job at one row; `limit`:
// BackgroundOptions::timeouts_at_one_row. A lost connection never gets
// here (the server rolled back; the next step starts over), nor does a
// step whose own deadline cancelled it.
[[nodiscard]] inline OnBatchError on_batch_error(std::string_view sqlstate, bool in_file, std::int64_t size,
                                                 unsigned timeouts_at_one_row, unsigned limit,
                                                 FailedRange policy) noexcept {
  if (sqlstate == "55P03" || sqlstate == "40P01") return OnBatchError::retry;  // never skipped: tried again
  if (sqlstate == "57014") {
    if (size > 1) return OnBatchError::halve;
    if (timeouts_at_one_row < limit) return OnBatchError::retry;
    return policy == FailedRange::skip ? OnBatchError::skip : OnBatchError::fail;
  }
  if (policy == FailedRange::skip && in_file && row_error(sqlstate)) {
    return size > 1 ? OnBatchError::split : OnBatchError::skip;
  }
  return OnBatchError::fail;
}

// A key as people read it: `42`, or `(acme, 42)` for a composite key.
[[nodiscard]] inline std::string key_text(const std::vector<std::string>& key) {
  if (key.size() == 1) return key.front();
  std::string out = "(";
  for (std::size_t i = 0; i < key.size(); ++i) out += (i ? ", " : "") + key[i];
  return out + ")";
}

}  // namespace detail
}  // namespace lockstep
