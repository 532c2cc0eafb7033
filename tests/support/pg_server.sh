#!/usr/bin/env bash
# Throwaway PostgreSQL for tests and the demo.
#
#   pg_server.sh start STATE_DIR [BIN_DIR]   initdb + start; writes STATE_DIR/url
#   pg_server.sh stop  STATE_DIR             stop and delete the cluster
#
# BIN_DIR (else LOCKSTEP_PG_BINDIR) holds the initdb, pg_ctl and postgres to
# run, e.g. another major version from scripts/install-postgres; the default
# is Debian's newest installed (15 on bookworm). The one used is recorded in
# STATE_DIR/bindir, so stop uses it too.
#
# The cluster runs as a non-root user (PostgreSQL refuses root), listens on
# 127.0.0.1 at a port below 32768 (above it is the kernel's ephemeral range,
# where a herd's client sockets could take the port) and on a Unix socket in
# its own temp dir. If LOCKSTEP_TEST_URL is set, that server is used instead.
# LOCKSTEP_PG_EXTRA_LISTEN=ADDR and LOCKSTEP_PG_EXTRA_HBA=CIDR add a listen
# address and a trusted network (the network-namespace test's veth link).
# LOCKSTEP_PG_LC_MESSAGES=LOCALE makes the server speak another language
# (errors must be understood by SQLSTATE, not by their words).
# LOCKSTEP_PG_DURABLE=1 keeps PostgreSQL's default durability (fsync on), for
# benchmarks; tests turn it off for speed.
set -euo pipefail

cmd=${1:?usage: pg_server.sh start|stop STATE_DIR [BIN_DIR]}
state=${2:?usage: pg_server.sh start|stop STATE_DIR [BIN_DIR]}
wanted_bindir=${3:-${LOCKSTEP_PG_BINDIR:-}}
mkdir -p "$state"

pg_bindir() {
  local d=$wanted_bindir
  if [[ -z "$d" ]]; then
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    [[ -n "$d" && -x "$d/initdb" ]] || { echo "pg_server.sh: PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }
  fi
  local p
  for p in initdb pg_ctl postgres; do
    [[ -x "$d/$p" ]] || { echo "pg_server.sh: no executable $p in '$d' (LOCKSTEP_PG_BINDIR or the bin-dir argument; scripts/install-postgres installs one)" >&2; exit 1; }
  done
  echo "$d"
}

run_as() {  # run a command as the cluster's owner
  if [[ $(id -u) -eq 0 ]]; then runuser -u "$owner" -- "$@"; else "$@"; fi
}

owner=$(id -un)
if [[ $(id -u) -eq 0 ]]; then
  owner=postgres
  id -u "$owner" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$owner"
fi

case "$cmd" in
start)
  if [[ -n "${LOCKSTEP_TEST_URL:-}" && -z "${LOCKSTEP_PG_EXTRA_LISTEN:-}" ]]; then
    printf '%s\n' "$LOCKSTEP_TEST_URL" > "$state/url"
    echo "pg_server.sh: using LOCKSTEP_TEST_URL"
    exit 0
  fi
  if [[ -f "$state/datadir" ]]; then "$0" stop "$state" || true; fi
  bin=$(pg_bindir)
  # The cluster's owner must be able to run them (as root that is the postgres
  # user, who cannot enter /root: scripts/install-postgres installs elsewhere).
  run_as "$bin/postgres" --version >/dev/null 2>&1 ||
    { echo "pg_server.sh: $owner cannot run $bin/postgres" >&2; exit 1; }
  root=$(mktemp -d /tmp/lockstep-pg.XXXXXX)
  chmod 755 "$root"
  [[ $(id -u) -eq 0 ]] && chown "$owner" "$root"
  printf '%s\n' "$root" > "$state/datadir"
  printf '%s\n' "$bin" > "$state/bindir"
  run_as "$bin/initdb" -D "$root/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$root/initdb.log" 2>&1 ||
    { cat "$root/initdb.log" >&2; exit 1; }
  cat >> "$root/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1${LOCKSTEP_PG_EXTRA_LISTEN:+,$LOCKSTEP_PG_EXTRA_LISTEN}'
unix_socket_directories = '$root'
max_connections = 300
log_min_messages = warning
log_line_prefix = '%m [%p] %a '
CONF
  if [[ -n "${LOCKSTEP_PG_LC_MESSAGES:-}" ]]; then
    printf "lc_messages = '%s'\n" "$LOCKSTEP_PG_LC_MESSAGES" >> "$root/data/postgresql.conf"
  fi
  if [[ "${LOCKSTEP_PG_DURABLE:-0}" != 1 ]]; then
    printf 'fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n' >> "$root/data/postgresql.conf"
  fi
  # One role must prove its password (the wrong-password test); first match wins.
  { printf 'host all lockstep_pw 127.0.0.1/32 scram-sha-256\n'; cat "$root/data/pg_hba.conf"; } > "$root/hba.tmp"
  cat "$root/hba.tmp" > "$root/data/pg_hba.conf" && rm -f "$root/hba.tmp"
  if [[ -n "${LOCKSTEP_PG_EXTRA_HBA:-}" ]]; then
    printf 'host all all %s trust\n' "$LOCKSTEP_PG_EXTRA_HBA" >> "$root/data/pg_hba.conf"
  fi
  for attempt in $(seq 1 20); do
    port=$(( 20000 + (RANDOM % 12000) ))
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then continue; fi
    if run_as "$bin/pg_ctl" -D "$root/data" -l "$root/server.log" -o "-p $port" -w -t 30 start >/dev/null 2>&1; then
      printf '%s\n' "$port" > "$state/port"
      printf 'postgresql://postgres@127.0.0.1:%s/postgres\n' "$port" > "$state/url"
      printf '%s\n' "$root" > "$state/socketdir"
      echo "pg_server.sh: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data $root/data)"
      exit 0
    fi
  done
  echo "pg_server.sh: could not start PostgreSQL; log:" >&2
  cat "$root/server.log" >&2 || true
  exit 1
  ;;
stop)
  [[ -f "$state/datadir" ]] || exit 0
  root=$(cat "$state/datadir")
  if [[ -f "$state/bindir" ]]; then bin=$(cat "$state/bindir"); else bin=$(pg_bindir); fi
  run_as "$bin/pg_ctl" -D "$root/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$root"
  rm -f "$state/datadir" "$state/bindir" "$state/url" "$state/port" "$state/socketdir"
  ;;
*)
  echo "usage: pg_server.sh start|stop STATE_DIR [BIN_DIR]" >&2
  exit 2
  ;;
esac
