// Run-time settings: what the deploy decides (URLs, versions, names). What the
// build decides (how to lock, wait, time out, find and record migrations) is
// in the Migrator's policy parameters instead.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

#include "lockstep/events.hpp"

namespace lockstep {

struct Settings {
  // Connection string (URI or key=value) of a *direct* session to the primary.
  // Empty: DATABASE_URL_MIGRATION, then DATABASE_URL.
  std::string database_url;

  // The schema version this binary needs. It is the leader's target and the
  // gate's threshold. Empty: the newest version in the source.
  std::optional<std::int64_t> expected_version;

  // Recorded with every migration and boot. Empty: LOCKSTEP_DEPLOY_VERSION, else "unknown".
  std::string deploy_version;

  // Advisory-lock name; the 64-bit key is derived from it (see lock/lock_key.hpp).
  // Empty: "lockstep:<database>:<ledger identity>".
  std::string lock_name;

  // Who applies: recorded in the ledger. Empty: HOSTNAME, else gethostname().
  std::string host;

  // Per connection attempt; further bounded by the run's deadline.
  std::chrono::seconds connect_timeout{10};

  std::string application_name = "lockstep";

  // Where events go. Empty: JSON lines on stderr.
  EventSink on_event;
};

namespace detail {

[[nodiscard]] inline std::string env_or(const char* name, std::string fallback = {}) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? std::string{v} : fallback;
}

[[nodiscard]] inline std::string resolve_url(const Settings& s) {
  if (!s.database_url.empty()) return s.database_url;
  return env_or("DATABASE_URL_MIGRATION", env_or("DATABASE_URL"));
}

[[nodiscard]] inline std::string resolve_deploy_version(const Settings& s) {
  if (!s.deploy_version.empty()) return s.deploy_version;
  return env_or("LOCKSTEP_DEPLOY_VERSION", "unknown");
}

[[nodiscard]] inline std::string resolve_host(const Settings& s) {
  if (!s.host.empty()) return s.host;
  std::string h = env_or("HOSTNAME");
  if (!h.empty()) return h;
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) == 0 && buf[0] != '\0') return buf;
  return "unknown";
}

}  // namespace detail
}  // namespace lockstep
