"""The invariant checks must be able to fail: a clean round is applied, then
broken on purpose one way at a time, and every break must be reported."""

import os
import shutil
import subprocess
import time
from datetime import datetime, timedelta, timezone

from . import background, herd, invariants
from .herd import Proc
from .mixed import MixedProc, MixedRound, MixedSpec, check_mixed, withdrawal_failed_said
from .scenario import MigrationSpec, ProcSpec, Round
from .round import prepare
from .servers import psql, url_for


def _round():
    migrations = [MigrationSpec(1, True, 0, False), MigrationSpec(2, False, 0, False), MigrationSpec(3, True, 0, False)]
    procs = [ProcSpec(0, "try", "true", 60, "direct")]
    return Round(seed=0, faults=["none"], migrations=migrations, procs=procs, stall_s=3, on_partial="rerun",
                 trigger_version=1, delay_s=0, pause_s=0, follower_kill_at_s=0)


def _fake_proc(code, events, hung=False, cut=False):
    p = Proc(ProcSpec(0, "try", "true", 8 if cut else 60, "proxy" if cut else "direct"), [], "/dev/null")
    p.code, p.events, p.hung = code, events, hung
    p.cut_at = 1.0 if cut else None
    p.started = p.ended = 0.0
    return p


def run(servers, cli, workdir):
    """Returns the list of breaks the checks failed to report (empty: good)."""
    rnd = _round()
    db = "chaos_selftest"
    mdir, url = prepare(rnd, servers, workdir, db)
    subprocess.run([cli, "migrate", "--dir", mdir, "--url", url], check=True, stdout=subprocess.DEVNULL)

    missed = []
    if invariants.check_database(rnd, url, mdir, complete=True):
        missed.append("a clean database was reported broken")

    def expect(label, sql, undo, needle):
        psql(url, sql)
        found = invariants.check_database(rnd, url, mdir, complete=True)
        psql(url, undo)
        if not any(needle in v for v in found):
            missed.append(f"{label}: not reported (got {found})")

    expect("a transactional migration committed twice",
           "INSERT INTO chaos.applied (version, kind) VALUES (1, 'tx')",
           "DELETE FROM chaos.applied WHERE ctid = (SELECT max(ctid) FROM chaos.applied WHERE version = 1)",
           "committed 2 times")
    expect("applied but not recorded",
           "CREATE TABLE keep3 AS SELECT * FROM lockstep.migrations WHERE version = 3; "
           "DELETE FROM lockstep.migrations WHERE version = 3",
           "INSERT INTO lockstep.migrations SELECT * FROM keep3; DROP TABLE keep3",
           "recorded=False")
    expect("a drifted checksum", "UPDATE lockstep.migrations SET checksum = 'x' || checksum WHERE version = 2",
           "UPDATE lockstep.migrations SET checksum = substr(checksum, 2) WHERE version = 2", "checksum of 2")
    expect("a gap in the ledger",
           "CREATE TABLE keep2 AS SELECT * FROM lockstep.migrations WHERE version = 2; "
           "DELETE FROM lockstep.migrations WHERE version = 2",
           "INSERT INTO lockstep.migrations SELECT * FROM keep2; DROP TABLE keep2", "gap-free")
    expect("a recorded no-transaction migration with an invalid index",
           "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'public.m_2_note'::regclass",
           "UPDATE pg_index SET indisvalid = true WHERE indexrelid = 'public.m_2_note'::regclass",
           "valid index is missing")

    # A lock left behind by a session that never ends.
    holder = subprocess.Popen(["psql", "-X", "-q", "-d", url, "-c",
                               "SELECT pg_advisory_lock(42); SELECT pg_sleep(30)"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if psql(url, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")[0][0] != "0":
                break
            subprocess.run(["sleep", "0.05"])
        if not invariants.poll_quiet(servers.url, db, seconds=1):
            missed.append("a held advisory lock: not reported")
    finally:
        holder.kill()
        holder.wait()

    ready = {"event": "ready", "schema_version": 3, "_seen": 0}
    cases = [
        ("exit 0 without reaching the version", _fake_proc(0, [dict(ready, schema_version=2)]), "without a ready"),
        ("an undocumented exit code", _fake_proc(1, []), "not a documented code"),
        ("an error exit without an error event", _fake_proc(8, []), "without a matching error event"),
        ("a hung process", _fake_proc(None, [], hung=True), "hung"),
        ("a healthy patient process that failed", _fake_proc(5, [{"event": "error", "class": "connection_failed",
                                                                  "_seen": 0}]), "patient, unharmed"),
        ("one migration applied by two processes", None, "reported applied by"),
        ("a silenced leader still running past its deadline + 5 s (edge rounds; issue #31 case 1)",
         _fake_proc(None, [{"event": "lock_released", "_seen": 0}], hung=True, cut=True), "hung"),
    ]
    for label, proc, needle in cases:
        procs = [proc] if proc else [
            _fake_proc(0, [{"event": "migration_applied", "version": 1, "_seen": 0}, ready]),
            _fake_proc(0, [{"event": "migration_applied", "version": 1, "_seen": 0}, ready])]
        found = invariants.check_processes(rnd, procs)
        if not any(needle in v for v in found):
            missed.append(f"{label}: not reported (got {found})")

    # A process's deadline runs from its own clock (its boot event), so one
    # that started late is not hung at release + timeout + margin, and one
    # that never booted is hung only after the startup grace.
    late = _fake_proc(None, [])
    late.spec.timeout_s = 2
    late.read_events()
    if late.deadline_s() != herd.STARTUP_GRACE_S + 2 + herd.EXIT_MARGIN_S:
        missed.append(f"a process that never booted: hung from {late.deadline_s()} s, not after the startup grace")
    # The wall and monotonic clocks read once, together: the check must not
    # depend on how long this process waits for a CPU between two readings.
    seen, wall = time.monotonic(), time.time()
    boot_ts = datetime.fromtimestamp(wall, timezone.utc) - timedelta(seconds=1)
    late.clock_started = herd.clock_start({"event": "boot", "ts": boot_ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                                           "elapsed_ms": 500}, seen, wall)
    want = seen - 1.5 + 2 + herd.EXIT_MARGIN_S
    if late.clock_started is None or abs(late.deadline_s() - want) > 0.05:
        missed.append(f"a process whose clock started 1.5 s ago: deadline at {late.deadline_s()}, not {want}")

    # Edge rounds: a long migration that its progress monitor never reported.
    edge = _round()
    edge.edge = True
    quiet = _fake_proc(0, [{"event": "migration_applied", "version": 1, "duration_ms": 5000, "_seen": 0}, ready])
    if not any("no progress event" in x for x in invariants.check_progress(edge, [quiet])):
        missed.append("a 5 s migration without a progress event in an edge round: not reported")
    quiet.events.insert(0, {"event": "progress", "version": 1, "_seen": 0})
    if invariants.check_progress(edge, [quiet]):
        missed.append("a reported 5 s migration in an edge round was reported broken")

    missed += paused_leader_missed(ready)
    missed += mixed_missed()
    missed += background_missed(servers, cli, workdir)
    psql(servers.url, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    shutil.rmtree(workdir, ignore_errors=True)
    return missed


def _at(epoch):
    """An event timestamp for a wall-clock time."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def paused_leader_missed(ready):
    """A leader paused 8 s (stall 3 s) that applies a migration on waking: a
    break if another process took the lock while it slept (its session was
    lost), not when the pause only covered a statement and nobody did."""
    rnd = _round()
    now, wall = time.monotonic(), time.time()
    missed = []
    for label, taken_at, want in (("another process took the lock during the pause", wall - 5, True),
                                  ("nobody took the lock during the pause", wall - 20, False)):
        leader = _fake_proc(0, [{"event": "migration_applied", "version": 1, "_seen": now, "ts": _at(wall - 1)},
                                dict(ready, _seen=now)])
        leader.stopped_at, leader.continued_at = now - 10, now - 2
        other = _fake_proc(0, [{"event": "lock_acquired", "_seen": now, "ts": _at(taken_at)},
                               dict(ready, _seen=now)])
        other.spec = ProcSpec(1, "try", "true", 60, "direct")
        found = [x for x in invariants.check_processes(rnd, [leader, other]) if "session it had lost" in x]
        if bool(found) != want:
            missed.append(f"paused leader, {label}: {'not reported' if want else f'reported: {found}'}")
    return missed


def mixed_missed():
    """The mixed-deploy checks, fed planted records (lease 1.2 s, beat 0.3 s)."""
    rnd = MixedRound(seed=0, old_knows=1, contract=2, new_knows=2, notx_contract=False, interval_ms=300,
                     lease_ms=1200)

    def proc(image, code, faults=(), woke=None, events=()):
        p = MixedProc(MixedSpec(0, image, "kill", 0.0), [], "/dev/null")
        p.code, p.faults, p.woke_at, p.events = code, list(faults), woke, list(events)
        p.killed = bool(faults) and faults[0][0] == "kill"
        return p

    t = 1000.0
    new = proc("new", 0, [("end", t + 9)])
    ts = "1970-01-01T00:16:47.000Z"  # t + 7
    # A failed beat 0.8 s after the silence (today's CLI: an error event), and one
    # 4 s after it, past the bound (1.1 beats + the beat's budget + slack = 3.73 s).
    failed = {"event": "error", "class": "deadline_exceeded", "ts": "1970-01-01T00:16:40.800Z"}
    late_failed = dict(failed, ts="1970-01-01T00:16:44.000Z")
    cases = [
        ("a contract inside a killed old replica's lease", [proc("old", None, [("kill", t)]), new], 1, 1, t + 0.5,
         "before old replica"),
        ("a contract while a SIGTERMed old replica had not yet been told", [proc("old", 0, [("term", t)]), new],
         1, 1, t - 0.1, "before old replica"),
        ("the contract recorded twice", [new], 2, 1, t, "recorded 2 times"),
        ("a transactional contract's body run twice", [new], 1, 2, t, "committed 2 times"),
        ("an old replica woken after the contract that kept serving",
         [proc("old", 0, [("stop", t), ("cont", t + 5), ("end", t + 9)], woke=t + 5), new], 1, 1, t + 3,
         "not 15"),
        ("an old replica registered again after the contract",
         [proc("old", 15, [("stop", t), ("cont", t + 5)], woke=t + 5,
               events=[{"event": "replica_reregistered", "ts": ts}]), new], 1, 1, t + 3, "registered again"),
        ("a contract while a woken old replica beat again",
         [proc("old", 0, [("stop", t), ("cont", t + 2), ("end", t + 9)], woke=t + 2), new], 1, 1, t + 6,
         "beat again after waking"),
        ("a new replica that failed", [proc("new", 5, [("end", t)])], 1, 1, t, "exited 5"),
        # Edge rounds: an old replica whose connections went silent at t.
        ("a contract inside a silent old replica's lease",
         [proc("old", 15, [("silent", t), ("mend", t + 5)], woke=t + 5, events=[failed]), new], 1, 1, t + 0.5,
         "before old replica"),
        ("a silent old replica that never said its beats failed",
         [proc("old", 15, [("silent", t), ("mend", t + 5)], woke=t + 5), new], 1, 1, t + 3, "did not say so"),
        ("a silent old replica that said so only after its lease",
         [proc("old", 15, [("silent", t), ("mend", t + 5)], woke=t + 5, events=[late_failed]), new], 1, 1, t + 3,
         "did not say so"),
        ("a silent old replica, back after the contract, that kept serving",
         [proc("old", 0, [("silent", t), ("mend", t + 5), ("end", t + 9)], woke=t + 5, events=[failed]), new],
         1, 1, t + 3, "not 15"),
        ("an untouched old replica refused at a beat (the contract ran under it; issue #31 case 6)",
         [proc("old", 15, []), new], 1, 1, t, "live and untouched"),
    ]
    # Soak of 2026-12-07: an old replica whose beats all failed (it said so)
    # stops counting when its last renewal's lease runs out.
    renewed = {"event": "beat", "ts": _at(t - 2)}
    beat_failed = {"event": "beat_failed", "ts": _at(t - 1.5)}
    cases += [
        ("a contract inside the lease of an old replica whose beats had just begun to fail",
         [proc("old", None, [("kill", t + 2)], events=[dict(renewed, ts=_at(t - 0.2)), dict(beat_failed,
                                                                                        ts=_at(t + 0.1))]), new],
         1, 1, t + 0.5, "before old replica"),
        ("a contract while a failing old replica's renewal was in flight",
         [proc("old", None, [("kill", t + 2)], events=[renewed, beat_failed, dict(renewed, ts=_at(t + 0.1))]), new],
         1, 1, t, "before old replica"),
        ("a contract while a failed renewal may have stamped the lease",
         [proc("old", None, [("kill", t + 2)], events=[renewed, dict(beat_failed, ts=_at(t - 1.1),
                                                                     **{"while": "renewing this replica's lease"})]),
          new], 1, 1, t, "before old replica"),
        ("an untouched old replica refused at a beat, its last renewal's lease still running",
         [proc("old", 15, [], events=[dict(renewed, ts=_at(t - 0.5)), dict(beat_failed, ts=_at(t - 0.2))]), new],
         1, 1, t, "live and untouched"),
        ("an old replica woken after the contract that beat and kept serving",
         [proc("old", 0, [("stop", t), ("cont", t + 5), ("end", t + 9)], woke=t + 5,
               events=[dict(beat_failed, ts=_at(t + 5.5)), dict(renewed, ts=_at(t + 6))]), new], 1, 1, t + 3,
         "not 15"),
    ]
    missed = []
    # The registry's own record of a lease: one that ran out before the
    # contract settles it, one that had not is no excuse.
    doubtful = proc("old", None, [("kill", t + 2)], events=[renewed, dict(beat_failed, ts=_at(t - 1.1),
                                                                           **{"while": "renewing this replica's lease"})])
    if check_mixed(rnd, [doubtful, new], 1, 1, t, lease_ends={doubtful.spec.name: t - 0.1}):
        missed.append("mixed: a lease the registry shows expired before the contract was reported")
    if not check_mixed(rnd, [doubtful, new], 1, 1, t, lease_ends={doubtful.spec.name: t + 0.1}):
        missed.append("mixed: a lease the registry shows live at the contract: not reported")
    for label, procs, rows, runs, at, needle in cases:
        found = check_mixed(rnd, procs, rows, runs, at)
        if not any(needle in v for v in found):
            missed.append(f"mixed: {label}: not reported (got {found})")
    clean = [proc("old", None, [("kill", t)]), proc("old", 15, [("stop", t), ("cont", t + 5)], woke=t + 5),
             proc("old", 15, [("silent", t), ("mend", t + 5)], woke=t + 5, events=[failed]), new]
    found = check_mixed(rnd, clean, 1, 1, t + 1.5)
    if found:
        missed.append(f"mixed: a clean record was reported broken: {found}")
    # The lapsed lease, and a woken replica whose beats all failed until
    # SIGTERM (it could not be told), are no break.
    lapsed = [proc("old", None, [("kill", t + 2)], events=[renewed, beat_failed]),
              proc("old", 0, [("stop", t + 1), ("cont", t + 5), ("end", t + 9)], woke=t + 5,
                   events=[renewed, beat_failed, dict(beat_failed, ts=_at(t + 6))]),
              proc("old", 15, [], events=[dict(renewed, ts=_at(t - 3)),
                                          dict(beat_failed, ts=_at(t - 2.5), **{"while": "connecting to x"}),
                                          dict(beat_failed, ts=_at(t - 0.5),
                                               **{"while": "renewing this replica's lease"})]), new]
    found = check_mixed(rnd, lapsed, 1, 1, t)
    if found:
        missed.append(f"mixed: old replicas whose leases had lapsed were reported: {found}")
    # A clean stop that left a row: fine only when the failed withdrawal was said.
    for label, events, want in (("a failed withdrawal it reported", [renewed, dict(beat_failed, ts=_at(t + 9.2))],
                                 True),
                                ("a silent withdrawal", [renewed, dict(beat_failed, ts=_at(t + 8))], False),
                                ("a withdrawal", [{"event": "replica_withdrawn", "ts": _at(t + 9.2)}], False)):
        if withdrawal_failed_said(proc("new", 0, [("end", t + 9)], events=events)) != want:
            missed.append(f"mixed: {label}: taken as {'not ' if want else ''}said")
    return missed



def background_missed(servers, cli, workdir):
    """Background rounds (chaoslib/background.py): a clean job over a small
    table of each key shape, then one planted break at a time."""
    missed = []
    for key in ("bigint", "composite", "text"):
        rnd = background.BgRound(seed=0, key=key, rows=300, batch_size=40, sleep_s=0, key_step=7, collation="C")
        db = f"chaos_selftest_bg_{key}"
        url = url_for(servers.url, db)
        mdir = os.path.join(workdir, f"bg-{key}")
        shutil.rmtree(mdir, ignore_errors=True)
        os.makedirs(mdir)
        n = background.write_files(rnd, mdir)
        psql(servers.url, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        psql(servers.url, f"CREATE DATABASE {db}")
        psql(url, "CREATE SCHEMA chaos")
        subprocess.run([cli, "migrate", "--dir", mdir, "--url", url], check=True, stdout=subprocess.DEVNULL)
        cols = ", ".join(rnd.key_cols)
        # Every plant on the composite key (the checks' SQL is the same for
        # each shape but for the columns); the other shapes get the main
        # ones: the self-test runs in CI, where each psql costs 0.2-0.5 s.
        full = key == "composite"
        missed += _plants(f"bg {key} after the boots", url, lambda: background.check_queued(url, n), [] if not full else [
            ("a boot that ran the job", "UPDATE lockstep.jobs SET state = 'running', rows_done = 40, batches = 1",
             "UPDATE lockstep.jobs SET state = 'queued', rows_done = 0, batches = 0", "a boot ran the job"),
            ("a boot that ran a batch", f"INSERT INTO public.seen ({cols}) SELECT {cols} FROM public.items LIMIT 1",
             "DELETE FROM public.seen", "a boot ran batches"),
        ])
        psql(url, f"CREATE TABLE chaos.expected AS SELECT {cols} FROM public.items")
        psql(url, background._above_bound_sql(rnd, 20))
        subprocess.run([cli, "background", "run", "--dir", mdir, "--url", url, "--timeout", "30s"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        one = f"SELECT {cols} FROM public.seen ORDER BY {cols} OFFSET 100 LIMIT 1"
        where_one = f"({cols}) IN (SELECT {cols} FROM chaos.expected ORDER BY {cols} OFFSET 100 LIMIT 1)"
        above = f"({cols}) NOT IN (SELECT {cols} FROM chaos.expected)"
        cases = [
            ("a key processed twice", f"INSERT INTO public.seen ({cols}) {one}",
             "DELETE FROM public.seen WHERE ctid = (SELECT max(ctid) FROM public.seen)", "seen more than once"),
            ("a key never processed", f"CREATE TABLE chaos.keep AS SELECT * FROM public.seen WHERE {where_one}; "
                                      f"DELETE FROM public.seen WHERE {where_one}",
             "INSERT INTO public.seen SELECT * FROM chaos.keep; DROP TABLE chaos.keep", "never seen"),
            ("a key counted twice", f"UPDATE public.items SET touched = 2 WHERE {where_one}",
             f"UPDATE public.items SET touched = 1 WHERE {where_one}", "counter is not 1"),
            ("a key above the bound processed",
             f"INSERT INTO public.seen ({cols}) SELECT {cols} FROM public.items WHERE {above} LIMIT 1",
             f"DELETE FROM public.seen WHERE {above}", "not the job's"),
            ("a key above the bound counted",
             f"UPDATE public.items SET touched = 1 WHERE ctid = (SELECT min(ctid) FROM public.items WHERE {above})",
             f"UPDATE public.items SET touched = 0 WHERE {above}", "above the job's bound counted"),
            ("rows_done off by one", "UPDATE lockstep.jobs SET rows_done = rows_done + 1",
             "UPDATE lockstep.jobs SET rows_done = rows_done - 1", "rows_done is"),
            ("a job that failed", "UPDATE lockstep.jobs SET state = 'failed', last_error = 'planted'",
             "UPDATE lockstep.jobs SET state = 'succeeded', last_error = NULL", "not succeeded"),
            ("a job that succeeded short of its bound",
             "CREATE TABLE chaos.kc AS SELECT cursor FROM lockstep.jobs; UPDATE lockstep.jobs SET cursor = "
             "(SELECT ARRAY[" + ", ".join(f"{c}::text" for c in rnd.key_cols) + "] FROM chaos.expected ORDER BY "
             f"{cols} LIMIT 1)",
             "UPDATE lockstep.jobs SET cursor = (SELECT cursor FROM chaos.kc); DROP TABLE chaos.kc", "cursor at"),
            ("a bound that is not the greatest key",
             "UPDATE lockstep.jobs SET upper_bound = cursor, cursor = (SELECT ARRAY[" +
             ", ".join(f"{c}::text" for c in rnd.key_cols) + f"] FROM chaos.expected ORDER BY {cols} OFFSET 5 "
             "LIMIT 1); UPDATE lockstep.jobs SET upper_bound = cursor",
             "UPDATE lockstep.jobs SET cursor = (SELECT ARRAY[" + ", ".join(f"{c}::text" for c in rnd.key_cols) +
             "] FROM chaos.expected ORDER BY " + ", ".join(f"{c} DESC" for c in rnd.key_cols) +
             " LIMIT 1); UPDATE lockstep.jobs SET upper_bound = cursor", "bound is"),
        ]
        if not full:
            cases = [c for c in cases if c[0] in ("a key processed twice", "a key never processed",
                                                  "a key above the bound processed")]
        missed += _plants(f"bg {key}", url, lambda: background.check_job(url, rnd.key_cols), cases)
        if full:
            missed += _held_by_a_runner(servers, url, db)
            missed += _reports_missed(url)
        psql(servers.url, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    missed += _runner_procs_missed()
    return missed


def _plants(label, url, check, cases):
    """Each case: (what, sql that breaks, sql that undoes it, the words the report must contain)."""
    missed = []
    found = check()
    if found:
        return [f"{label}: a clean database was reported broken: {found}"]
    for what, sql, undo, needle in cases:
        psql(url, sql)
        found = check()
        psql(url, undo)
        if not any(needle in v for v in found):
            missed.append(f"{label}: {what}: not reported (got {found})")
    found = check()
    if found:
        missed.append(f"{label}: the plants were not undone cleanly: {found}")
    return missed


def _held_by_a_runner(servers, url, db):
    """A runner's session left idle in a batch's transaction, holding a
    transaction-level advisory lock like a job's: reported by poll_quiet."""
    env = dict(os.environ, PGAPPNAME="lockstep-bg-planted")
    holder = subprocess.Popen(["psql", "-X", "-q", "-d", url], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=env, text=True)
    try:
        holder.stdin.write("BEGIN; SELECT pg_advisory_xact_lock(4242);\n")
        holder.stdin.flush()
        for _ in range(100):
            if psql(url, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lockstep-bg-planted' "
                         "AND state LIKE 'idle in transaction%'")[0][0] != "0":
                break
            time.sleep(0.05)
        found = invariants.poll_quiet(servers.url, db, seconds=1)
        if not any("1 advisory lock(s) and 1 idle-in-transaction" in v for v in found):
            return [f"bg: a runner's session idle in a transaction holding an advisory lock: not reported "
                    f"(got {found})"]
        return []
    finally:
        holder.kill()
        holder.wait()


def _reports_missed(url):
    """What runners reported against the job's row (check_reports), on the
    finished job: a batch reported twice (taken back by a crash), the job
    reported finished twice, a batch reported that the job does not count."""
    batches = int(psql(url, "SELECT batches FROM lockstep.jobs WHERE version = 2")[0][0])

    def runner(name, numbers, finished=0):
        p = background.BgProc(background.BgSpec(int(name[1:]), "run"), [], "/dev/null")
        p.events = [{"event": "background_batch", "version": 2, "batch": n, "_seen": 0} for n in numbers]
        p.events += [{"event": "background_succeeded", "version": 2, "_seen": 0}] * finished
        return p

    half = list(range(1, batches // 2 + 1))
    rest = list(range(batches // 2 + 1, batches + 1))
    missed = []
    if background.check_reports([runner("r0", half), runner("r1", rest, 1)], url):
        missed.append("bg: a clean report of every batch once was reported broken")
    for label, procs, needle in (
            ("a batch reported twice (lost in a crash, run again)",
             [runner("r0", half + [half[-1]]), runner("r1", rest, 1)], "reported committed twice"),
            ("a batch reported by two runners", [runner("r0", half + rest[:1]), runner("r1", rest, 1)],
             "reported committed twice"),
            ("the job reported finished twice", [runner("r0", half, 1), runner("r1", rest, 1)], "finished 2 times"),
            ("a batch reported that the job does not count", [runner("r0", half + rest + [batches + 1], 1)],
             "but the job counts")):
        found = background.check_reports(procs, url)
        if not any(needle in v for v in found):
            missed.append(f"bg: {label}: not reported (got {found})")
    return missed


def _runner_procs_missed():
    """The process checks of a background round, fed planted records."""
    def proc(kind, code, hung=False, events=()):
        p = background.BgProc(background.BgSpec(0, kind), [], "/dev/null")
        p.code, p.hung, p.events = code, hung, list(events)
        p.bound_s, p.bound_from = 31.0, "the job succeeded"
        return p

    ready = {"event": "ready", "_seen": 0}
    error = {"event": "error", "class": "migration_failed", "message": "planted", "_seen": 0}
    cases = [
        ("a runner still running past its bound", [proc("run", None, hung=True)], 1.0, "hung"),
        ("a replica runner that did not stop after SIGTERM", [proc("replica", None, hung=True)], 1.0, "hung"),
        ("a runner that failed", [proc("run", 8, events=[error])], 1.0, "exited 8"),
        ("a runner with an undocumented exit code", [proc("run", 1)], 1.0, "not a documented code"),
        ("a boot that failed", [proc("boot", 9, events=[error])], None, "boot b0 exited 9"),
        ("a boot that exited 0 without ready", [proc("boot", 0)], None, "without a ready event"),
        ("a clean runner that exited 0 with the job unfinished", [proc("clean", 0)], None, "never succeeded"),
    ]
    missed = []
    for label, procs, done_at, needle in cases:
        found = background.check_runners(procs, done_at)
        if not any(needle in v for v in found):
            missed.append(f"bg: {label}: not reported (got {found})")
    clean = [proc("boot", 0, events=[ready]), proc("run", 0), proc("replica", 0), proc("clean", 0)]
    killed = proc("run", None)
    killed.killed = True
    found = background.check_runners(clean + [killed], 1.0)
    if found:
        missed.append(f"bg: a clean record was reported broken: {found}")
    return missed
