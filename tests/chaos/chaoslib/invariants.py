"""What must hold after every round. The database is asked directly; the
processes' own events are used only to find out what they claim, and the
claims are then checked against the database."""

import hashlib
import os
import time
from datetime import datetime, timezone

from .servers import psql

# The CLI's documented exit codes for a migrate run that did not succeed.
EXIT_CODES = {"connection_failed": 5, "migration_failed": 8, "lock_failed": 9, "deadline_exceeded": 10,
              "schema_behind": 11, "database_error": 12, "lock_lost": 13,
              "internal_error": 14, "schema_contracted": 15, "lock_unsafe": 16}


def check_processes(rnd, procs):
    v = []
    expected = len(rnd.migrations)
    strict = not rnd.planned_failure and rnd.faults[0] != "pgbouncer_session"

    def unharmed(p):
        return p.spec.patient and not p.killed and p.stopped_at is None and p.cut_at is None

    def refused_partial(p):
        # Under --on-partial refuse, a no-transaction migration that another
        # replica left part-way (its deadline struck mid-migration) stops the
        # deploy until `lockstep resolve`: that is the policy, not a failure.
        last_error = (p.named("error") or [{}])[-1]
        return rnd.on_partial == "refuse" and "partial policy is refuse" in last_error.get("message", "")

    # A replica that only waits (MIGRATE_ON_BOOT=false) needs someone to
    # migrate; a migrating one the partial policy refused migrates nothing
    # (seed 52049), so it does not count.
    migrator_left = any(unharmed(p) and p.spec.mode == "true" and not refused_partial(p) for p in procs)
    applied_by = {}
    for p in procs:
        name = f"p{p.spec.index}"
        for e in p.named("migration_applied"):
            applied_by.setdefault(e["version"], []).append(name)
        if p.hung:
            v.append(f"{name} was still running {p.spec.timeout_s:.0f} s + margin after its clock started: it hung")
            continue
        if p.killed:
            continue
        if p.code < 0:
            v.append(f"{name} died of signal {-p.code}")
            continue
        if p.code == 0:
            ready = p.named("ready")
            if not ready or ready[-1].get("schema_version", -1) < expected:
                v.append(f"{name} exited 0 without a ready event at schema version >= {expected}")
        else:
            errors = p.named("error")
            if p.code not in EXIT_CODES.values():
                v.append(f"{name} exited {p.code}, not a documented code for this run")
            elif not errors or EXIT_CODES.get(errors[-1].get("class")) != p.code:
                v.append(f"{name} exited {p.code} without a matching error event (got {errors[-1:] or 'none'})")
        if rnd.faults[0] == "pgbouncer_session":
            # A wait-only replica takes no lock, so it cannot notice the pooler:
            # it waits out its deadline like any follower whose leaders failed.
            allowed = [EXIT_CODES["lock_lost"]] + ([] if p.spec.patient and p.spec.mode == "true"
                                                   else [EXIT_CODES["deadline_exceeded"]])
            if p.code not in allowed:
                v.append(f"{name} exited {p.code} through PgBouncer with a session lock; it must refuse (lock_lost)")
        expected_to_finish = unharmed(p) and (p.spec.mode == "true" or migrator_left)
        last_error = (p.named("error") or [{}])[-1]
        if strict and expected_to_finish and p.code != 0 and not refused_partial(p):
            v.append(f"{name} (patient, unharmed) exited {p.code}: {last_error.get('class')}: "
                     f"{last_error.get('message')}")
        # A leader paused past the stall timeout may have lost its session;
        # then on waking it must not apply anything before it has reconnected
        # (or given up). The pause alone does not prove the loss: a backend
        # busy with a statement is not idle, so the stall timeout starts only
        # when the statement ends (soak of 2026-12-07, edge:33008: an 8.0 s
        # pause over a 6 s statement, stall 6 s, and the same backend ran
        # every migration). What would make it a break is that another
        # process took the migration lock while it slept.
        if p.stopped_at is not None and p.continued_at is not None and \
                p.continued_at - p.stopped_at > rnd.stall_s + 1.5:
            for e in p.events:
                if e["_seen"] <= p.continued_at:
                    continue
                if e.get("event") in ("reconnecting", "error"):
                    break
                if e.get("event") == "migration_applied":
                    took = lock_taken_during(p, procs, e)
                    if took:
                        v.append(f"{name} applied migration {e['version']} right after waking from a "
                                 f"{p.continued_at - p.stopped_at:.1f} s pause, in the session it had lost: "
                                 f"{', '.join(took)} took the migration lock while it slept")
                    break
    for version, who in applied_by.items():
        if len(who) > 1:
            v.append(f"migration {version} reported applied by {', '.join(who)}")
    return v


def _wall(event):
    return datetime.strptime(event["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


def lock_taken_during(p, procs, applied):
    """The other processes that acquired the migration lock between p's
    SIGSTOP and its `applied` event (wall clocks: events carry their own
    time, the harness reads them late)."""
    stopped = time.time() - (time.monotonic() - p.stopped_at)
    until = _wall(applied) if "ts" in applied else float("inf")
    return [f"p{q.spec.index}" for q in procs if q is not p
            for e in q.named("lock_acquired") if "ts" in e and stopped <= _wall(e) <= until]


def check_progress(rnd, procs):
    """Edge rounds run every process with --progress-interval 1s: a migration
    that a process applied after 3 s or more of work must have been reported
    by its progress monitor at least once on the way (the monitor starts at
    the first statement that lasts an interval)."""
    v = []
    if not rnd.edge:
        return v
    for p in procs:
        if p.stopped_at is not None:  # SIGSTOP froze its monitor with it
            continue
        for e in p.named("migration_applied"):
            if e.get("duration_ms", 0) < 3000:
                continue
            seen = [x for x in p.named("progress") if x.get("version") == e.get("version")]
            if not seen:
                v.append(f"p{p.spec.index} applied migration {e.get('version')} after {e['duration_ms']} ms with "
                         f"--progress-interval 1s and emitted no progress event for it")
    return v


def _sha256(path):
    """A migration's checksum as lockstep takes it (include/lockstep/source/checksum.hpp,
    migration_checksum): SHA-256 of the canonical text, without a leading UTF-8 BOM and
    with CRLF and a lone CR read as LF."""
    with open(path, "rb") as f:
        data = f.read()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return hashlib.sha256(data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")).hexdigest()


def poll_quiet(url, db, seconds=40):
    """No lockstep advisory lock and no lockstep session idle in a transaction
    may outlive the herd (a dead link's backend is reaped within ~15 s)."""
    end = time.monotonic() + seconds
    while True:
        locks = psql(url, "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                          f"WHERE l.locktype = 'advisory' AND d.datname = '{db}'")[0][0]
        idle = psql(url, "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'lockstep%' "
                         f"AND datname = '{db}' AND state LIKE 'idle in transaction%'")[0][0]
        if locks == "0" and idle == "0":
            return []
        if time.monotonic() > end:
            return [f"{locks} advisory lock(s) and {idle} idle-in-transaction lockstep session(s) still there "
                    f"{seconds} s after the herd ended"]
        time.sleep(0.25)


def check_database(rnd, url, migrations_dir, complete=False, untouched=False):
    v = []
    exists = psql(url, "SELECT to_regclass('lockstep.migrations') IS NOT NULL")[0][0] == "t"
    rows = psql(url, "SELECT version, checksum FROM lockstep.migrations ORDER BY applied_at, version") if exists else []
    versions = [int(r[0]) for r in rows]
    if versions != sorted(versions):
        v.append(f"ledger order by time is not version order: {versions}")
    if sorted(versions) != list(range(1, len(versions) + 1)):
        v.append(f"ledger is not a gap-free prefix: {sorted(versions)}")
    if len(set(versions)) != len(versions):
        v.append(f"a version is recorded twice: {versions}")
    by_version = {m.version: m for m in rnd.migrations}
    for version, checksum in ((int(r[0]), r[1]) for r in rows):
        m = by_version.get(version)
        if m is None:
            v.append(f"ledger has version {version}, which no file has")
        elif _sha256(os.path.join(migrations_dir, m.filename)) != checksum:
            v.append(f"ledger checksum of {version} differs from the file")
    if complete and sorted(versions) != list(by_version):
        v.append(f"after the re-run the ledger has {sorted(versions)}, not all of 1..{len(by_version)}")

    recorded = set(versions)
    if untouched:
        applied = psql(url, "SELECT count(*) FROM chaos.applied")[0][0]
        if versions or applied != "0":
            v.append(f"the herd was refused, yet the ledger has {versions} and {applied} migration statement(s) ran")
    tx_runs = {}
    for version, count in psql(url, "SELECT version, count(*) FROM chaos.applied WHERE kind = 'tx' GROUP BY 1"):
        tx_runs[int(version)] = int(count)
    tables = {r[0] for r in psql(url, "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                      "WHERE n.nspname = 'public' AND c.relkind = 'r'")}
    valid = {r[0]: r[1] == "t" for r in psql(
        url, "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
             "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'")}
    for m in rnd.migrations:
        table, index = f"m_{m.version}", f"m_{m.version}_note"
        if m.transactional:
            runs = tx_runs.get(m.version, 0)
            if runs > 1:
                v.append(f"transactional migration {m.version} committed {runs} times")
            if (m.version in recorded) != (runs == 1):
                v.append(f"migration {m.version}: recorded={m.version in recorded} but committed {runs} time(s)")
            if (m.version in recorded) != (table in tables):
                v.append(f"migration {m.version}: recorded={m.version in recorded} but table exists={table in tables}")
        elif m.version in recorded:
            if table not in tables or not valid.get(index, False):
                v.append(f"no-transaction migration {m.version} is recorded but its table/valid index is missing")
    return v
