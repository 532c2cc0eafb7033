// Releases a session lock on every exit path of a leader. If the connection
// is already gone the release fails, which is fine: the server dropped the
// lock with the session.
#pragma once

#include <chrono>
#include <cstdint>

#include "lockstep/connection.hpp"
#include "lockstep/detail/run/context.hpp"
#include "lockstep/detail/run/elect.hpp"
#include "lockstep/detail/run/session_sql.hpp"

namespace lockstep::detail {

template <class Lock, class Timeout>
class LockGuard {
 public:
  LockGuard(const Context<Timeout>& ctx, Lock& lock, const LockIdentity& id, Connection& conn)
      : ctx_{ctx}, lock_{lock}, id_{id}, conn_{conn}, since_{ctx.now()} {}
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;
  ~LockGuard() { release(); }

  // The leader's last transaction is committed: nothing to roll back.
  void mark_committed() noexcept { committed_ = true; }

  void release() noexcept {
    if (released_) return;
    released_ = true;
    bool ok = false;
    try {
      // On an error path the session may sit in an aborted transaction
      // (a failed BEGIN batch, a file's own BEGIN), where the unlock and
      // the NOTIFY would fail too and the waiters would sleep on.
      if (!committed_ && conn_.is_open()) (void)conn_.execute("ROLLBACK");
      ok = static_cast<bool>(lock_.release(conn_, id_.key));
      // Wakes waiting replicas at once, so one takes over if this leader failed.
      if (ok) (void)conn_.execute(notify_sql(id_.key, "released"));
    } catch (...) {
    }
    try {
      const auto held = std::chrono::duration_cast<std::chrono::milliseconds>(ctx_.now() - since_).count();
      ctx_.emit(events::LockReleased{.lock = id_.name, .held_ms = static_cast<std::int64_t>(held), .clean = ok});
    } catch (...) {
    }
  }

 private:
  const Context<Timeout>& ctx_;
  Lock& lock_;
  const LockIdentity& id_;
  Connection& conn_;
  std::chrono::steady_clock::time_point since_;
  bool released_ = false;
  bool committed_ = false;
};

}  // namespace lockstep::detail
