# shellcheck shell=bash
# Stage timing for the CI scripts (sourced, not run). Each stage prints, when
# it ends,
#   stage <name>: <seconds> s (load <1, 5, 15 min averages>)
# and stage_summary prints every stage of the run as a table, with the second
# each began at, so stages that overlapped are visible. The load averages are
# there because a shared machine stretches every stage: compare stages of one
# run with each other, not with another machine's.
#   stage NAME CMD...        runs CMD (a command or a function) in the foreground
#   stage_bg NAME CMD...     runs it in the background at the lowest CPU priority
#                            (so the foreground's timing-sensitive tests keep the
#                            CPU), its output kept until stage_wait NAME prints it
#   stage_wait NAME          waits for a background stage; fails as it failed
# A script that fails stops the background stages it started that still run.
# Nested scripts that source this file record into the caller's table.

if [[ -z "${LOCKSTEP_STAGES_FILE:-}" ]]; then
  LOCKSTEP_STAGES_FILE=$(mktemp /tmp/lockstep-stages.XXXXXX)
  LOCKSTEP_STAGES_T0=$EPOCHREALTIME
  export LOCKSTEP_STAGES_FILE LOCKSTEP_STAGES_T0
  stages_owner=1
else
  stages_owner=0
fi
declare -A stages_pid=() stages_log=()

stages_seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", b - a }'; }

stage() {
  local name=$1 start=$EPOCHREALTIME rc=0
  shift
  # In the background and waited for, so that `set -e` still holds inside a
  # function stage: a function run as `f || rc=$?` would ignore it.
  "$@" &
  wait "$!" || rc=$?
  local end=$EPOCHREALTIME load
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$(stages_seconds "$LOCKSTEP_STAGES_T0" "$start")" \
    "$(stages_seconds "$start" "$end")" "$rc" "$load" >>"$LOCKSTEP_STAGES_FILE"
  echo "stage $name: $(stages_seconds "$start" "$end") s (load $load)$([[ $rc == 0 ]] || echo ", failed: $rc")"
  return "$rc"
}

stage_bg() {
  local name=$1
  stages_log[$name]=$(mktemp /tmp/lockstep-stage-log.XXXXXX)
  ( renice -n 19 -p "$BASHPID" >/dev/null; stage "$@" ) >"${stages_log[$name]}" 2>&1 &
  stages_pid[$name]=$!
  echo "stage $name: started in the background"
}

stage_wait() {
  local name=$1 rc=0
  wait "${stages_pid[$name]}" || rc=$?
  echo "--- output of the background stage $name ---"
  cat "${stages_log[$name]}"
  echo "--- end of $name ---"
  rm -f "${stages_log[$name]}"
  return "$rc"
}

stage_summary() {
  [[ -s "$LOCKSTEP_STAGES_FILE" ]] || return 0
  echo
  echo "stage summary (seconds; start counts from the beginning; nproc $(nproc)):"
  printf '  %-36s %6s %6s  %-6s %s\n' stage start wall result 'load at end (1, 5, 15 min)'
  sort -t$'\t' -k2,2n "$LOCKSTEP_STAGES_FILE" | while IFS=$'\t' read -r name start wall result load; do
    printf '  %-36s %6s %6s  %-6s %s\n' "$name" "$start" "$wall" "$([[ $result == 0 ]] && echo ok || echo "rc $result")" "$load"
  done
  printf '  %-36s %6s %6s\n' total 0 "$(stages_seconds "$LOCKSTEP_STAGES_T0" "$EPOCHREALTIME")"
}

# A process and everything it started, children first (a background stage is
# a subshell running builds, ctest and servers' clients).
stages_kill_tree() {
  local child
  for child in $(pgrep -P "$1" 2>/dev/null); do stages_kill_tree "$child"; done
  kill "$1" 2>/dev/null || true
}

# When a script fails, the background stages it started are of no use: they
# would go on building and testing after the run has failed, holding the
# machine (and a CI slot) until they end.
stages_stop_background() {
  local name
  for name in "${!stages_pid[@]}"; do
    if kill -0 "${stages_pid[$name]}" 2>/dev/null; then
      echo "stage $name: stopped (the run failed)"
      stages_kill_tree "${stages_pid[$name]}"
    fi
  done
}

if [[ $stages_owner == 1 ]]; then
  # shellcheck disable=SC2154 # status is assigned inside the trap
  trap 'status=$?; [[ $status == 0 ]] || stages_stop_background; stage_summary; rm -f "$LOCKSTEP_STAGES_FILE"; exit $status' EXIT
else
  # shellcheck disable=SC2154 # status is assigned inside the trap
  trap 'status=$?; [[ $status == 0 ]] || stages_stop_background; exit $status' EXIT
fi
