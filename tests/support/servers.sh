#!/usr/bin/env bash
# The integration tests' fixture: PostgreSQL, then PgBouncer in front of it.
#   servers.sh start|stop BUILD_TEST_DIR   (state in BUILD_TEST_DIR/pg and /pgbouncer)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cmd=${1:?usage: servers.sh start|stop DIR}
dir=${2:?usage: servers.sh start|stop DIR}
case "$cmd" in
start)
  "$here/pg_server.sh" start "$dir/pg"
  "$here/pgbouncer.sh" start "$dir/pgbouncer" "$dir/pg"
  ;;
stop)
  "$here/pgbouncer.sh" stop "$dir/pgbouncer" || true
  "$here/pg_server.sh" stop "$dir/pg"
  ;;
*) echo "usage: servers.sh start|stop DIR" >&2; exit 2 ;;
esac
