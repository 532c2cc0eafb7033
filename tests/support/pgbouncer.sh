#!/usr/bin/env bash
# Throwaway PgBouncer in front of the test PostgreSQL, in transaction pooling
# mode with a small pool (so clients really share server connections) and the
# common `ignore_startup_parameters = extra_float_digits`.
#
#   pgbouncer.sh start STATE_DIR PG_STATE_DIR   writes STATE_DIR/url (database "postgres"; database
#                                               "pgbouncer" is its admin console, for user postgres)
#   pgbouncer.sh stop  STATE_DIR
set -euo pipefail

cmd=${1:?usage: pgbouncer.sh start|stop STATE_DIR [PG_STATE_DIR]}
state=${2:?usage: pgbouncer.sh start|stop STATE_DIR [PG_STATE_DIR]}
mkdir -p "$state"

run_as() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
start)
  pg_state=${3:?pgbouncer.sh start needs the PostgreSQL state dir}
  pg_url=$(cat "$pg_state/url")
  pg_hostport=${pg_url#*@}; pg_hostport=${pg_hostport%%/*}
  pg_host=${pg_hostport%:*}; pg_port=${pg_hostport##*:}
  command -v pgbouncer >/dev/null || [[ -x /usr/sbin/pgbouncer ]] ||
    { echo "pgbouncer.sh: pgbouncer not installed (apt-get install pgbouncer)" >&2; exit 1; }
  bin=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
  [[ -f "$state/dir" ]] && "$0" stop "$state" || true
  dir=$(mktemp -d /tmp/lockstep-pgbouncer.XXXXXX)
  chmod 755 "$dir"
  printf '"postgres" ""\n' > "$dir/userlist.txt"
  for attempt in $(seq 1 20); do
    port=$(( 20000 + (RANDOM % 12000) ))
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then continue; fi
    cat > "$dir/pgbouncer.ini" <<INI
[databases]
; An alias whose client-side name differs from the server's (the lock-key test).
lockstep_alias = host=$pg_host port=$pg_port dbname=lockstep_alias_target
* = host=$pg_host port=$pg_port

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
; The admin console (database "pgbouncer"): RECONNECT after a row-type change.
admin_users = postgres
stats_users = postgres
pool_mode = transaction
default_pool_size = 4
max_client_conn = 500
ignore_startup_parameters = extra_float_digits
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
    [[ $(id -u) -eq 0 ]] && chown -R postgres "$dir"
    if run_as "$bin" -d "$dir/pgbouncer.ini" >/dev/null 2>&1; then
      for _ in $(seq 1 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
      done
      printf '%s\n' "$dir" > "$state/dir"
      printf 'postgresql://postgres@127.0.0.1:%s/postgres\n' "$port" > "$state/url"
      echo "pgbouncer.sh: PgBouncer (transaction pooling) on 127.0.0.1:$port -> $pg_host:$pg_port"
      exit 0
    fi
  done
  echo "pgbouncer.sh: could not start PgBouncer" >&2
  cat "$dir/pgbouncer.log" >&2 || true
  exit 1
  ;;
stop)
  [[ -f "$state/dir" ]] || exit 0
  dir=$(cat "$state/dir")
  [[ -f "$dir/pgbouncer.pid" ]] && kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null || true
  rm -rf "$dir" "$state/dir" "$state/url"
  ;;
esac
