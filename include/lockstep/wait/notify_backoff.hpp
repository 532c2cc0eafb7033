// ExponentialBackoff that also wakes on NOTIFY: a waiting replica LISTENs on
// the lock's channel and the leader NOTIFYs it when it commits the last
// migration of its run and when it releases the lock. The backoff delay stays
// the upper bound of every wait, so a lost notification (a pooler in between,
// a network blip) costs at most one backoff step, never a stall.
//
// The wait happens on the connection's socket, in real time: pair it with a
// fake clock only in tests that never wait.
#pragma once

#include "lockstep/wait/exponential_backoff.hpp"

namespace lockstep {

class NotifyBackoff : public ExponentialBackoff {
 public:
  using ExponentialBackoff::ExponentialBackoff;
  // Tells the Migrator to LISTEN and to wait on the socket.
  static constexpr bool listens = true;
};

}  // namespace lockstep
