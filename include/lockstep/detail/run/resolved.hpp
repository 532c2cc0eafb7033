// Settings resolved once: what a run (or a heartbeat, for all its beats)
// reads from Settings and the environment, the URL parsed by libpq once for
// both its options and its secrets. Context carries it; Report carries its
// public part (ResolvedSettings). A failure to resolve (a bad
// MIGRATE_ON_BOOT, no URL, a URL libpq refuses) is kept here and reported
// by check_settings (target.hpp) in its usual order, inside the boundary.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "lockstep/detail/base/conninfo.hpp"
#include "lockstep/detail/base/libpq_adapter.hpp"
#include "lockstep/detail/base/redact.hpp"
#include "lockstep/error.hpp"
#include "lockstep/settings.hpp"

namespace lockstep::detail {

struct Resolved {
  ResolvedSettings settings;
  std::optional<Error> mode_error;  // MIGRATE_ON_BOOT holds no mode
  std::string url;                  // as given: print it only through `redact`
  std::optional<result<Conninfo>> conninfo;  // nullopt: no URL at all
  // The URL's secrets. The environment's (PGPASSWORD, ...) are added by
  // each Context as they are when it starts (with_current_environment),
  // once: never here too.
  Redactor redact;
};

[[nodiscard]] inline Resolved resolve(const Settings& s) {
  Resolved r;
  r.settings.host = resolve_host(s);
  r.settings.deploy_version = resolve_deploy_version(s);
  auto mode = resolve_mode(s);
  if (mode) {
    r.settings.mode = mode.value();
  } else {
    r.mode_error = std::move(mode).error();
  }
  r.url = resolve_url(s);
  auto parsed = libpq_parse_conninfo(r.url);
  r.redact = Redactor{secrets_in(r.url, parsed)};
  // The PgBouncer admin consoles' passwords too (pooler_reconnect.hpp).
  for (const auto& admin : s.pooler_admin_urls) r.redact = r.redact.with(secrets_in(admin));
  if (!r.url.empty()) r.conninfo = Conninfo::parse(r.url, std::move(parsed));
  return r;
}

// `r` with the environment's secrets as they are now. A heartbeat reuses one
// Resolved for every beat, for as long as the application runs, while libpq
// reads PGPASSWORD again at every connect: an application that sets or
// rotates it in-process must still never see it in a beat's output.
[[nodiscard]] inline Resolved with_current_environment(Resolved r) {
  r.redact = r.redact.with(environment_secrets());
  return r;
}

}  // namespace lockstep::detail
