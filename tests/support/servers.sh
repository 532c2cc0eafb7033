#!/usr/bin/env bash
# The integration tests' fixture: PostgreSQL, then PgBouncer in front of it,
# and a second PostgreSQL whose messages are in German (lc_messages).
#   servers.sh start|stop BUILD_TEST_DIR   (state in BUILD_TEST_DIR/pg, /pgbouncer, /pg_de)
# LOCKSTEP_PG_BINDIR selects the PostgreSQL binaries (see pg_server.sh; default
# Debian's). The German server runs them too when they carry German message
# catalogs; the npm registry's builds carry none, so with those it is Debian's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cmd=${1:?usage: servers.sh start|stop DIR}
dir=${2:?usage: servers.sh start|stop DIR}
case "$cmd" in
start)
  "$here/pg_server.sh" start "$dir/pg"
  "$here/pgbouncer.sh" start "$dir/pgbouncer" "$dir/pg"
  if locale -a 2>/dev/null | grep -qi '^de_DE\.utf-\?8$'; then
    de_bindir=${LOCKSTEP_PG_BINDIR:-}
    if [[ -n "$de_bindir" ]] && ! compgen -G "$de_bindir/../share/locale/de/LC_MESSAGES/postgres*.mo" >/dev/null; then
      echo "servers.sh: $de_bindir has no German messages; the German server is Debian's PostgreSQL"
      de_bindir=''
    fi
    LOCKSTEP_TEST_URL='' LOCKSTEP_PG_BINDIR=$de_bindir LOCKSTEP_PG_LC_MESSAGES=de_DE.UTF-8 \
      "$here/pg_server.sh" start "$dir/pg_de"
  else
    echo "servers.sh: no de_DE.UTF-8 locale (scripts/install-deps generates it); the German server is skipped" >&2
  fi
  ;;
stop)
  "$here/pgbouncer.sh" stop "$dir/pgbouncer" || true
  [[ -f "$dir/pg_de/datadir" ]] && { LOCKSTEP_TEST_URL='' "$here/pg_server.sh" stop "$dir/pg_de" || true; }
  "$here/pg_server.sh" stop "$dir/pg"
  ;;
*) echo "usage: servers.sh start|stop DIR" >&2; exit 2 ;;
esac
