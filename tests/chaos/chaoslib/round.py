"""One round: a fresh database, the herd with its faults, the invariants,
then a lone re-run that must finish the work (or refuse, when the partial
policy says so, until `lockstep resolve`)."""

import json
import os
import shutil
import subprocess
import time

from . import invariants
from .herd import Runner
from .servers import psql, url_for


def _cli(cli, args, timeout=120):
    out = subprocess.run([cli] + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    events = []
    for line in out.stdout.splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return out.returncode, events, out.stdout


def _rerun(rnd, servers, cli, migrations_dir, db):
    """The deploy after the storm, by one replica: nothing may be wedged."""
    v = []
    url = url_for(servers.url, db)
    psql(url, "DELETE FROM chaos.ctl")  # the planned failures are "fixed"
    # A new deploy: in the storm's own deploy a planned failure that the
    # server rejected stops the deploy by design (FailurePolicy::stop_deploy).
    common = ["--dir", migrations_dir, "--url", url, "--timeout", "60s", "--on-partial", rnd.on_partial,
              "--host", "rerun", "--deploy-version", f"chaos-{rnd.seed}-rerun"]
    code, events, text = _cli(cli, ["migrate"] + common)
    if code == 8 and rnd.on_partial == "refuse":
        # Refused a no-transaction migration that stopped part-way: the
        # documented way out is a human's `lockstep resolve VERSION`.
        failed = [e for e in events if e.get("event") == "error"]
        version = failed[-1].get("version") if failed else None
        if version is None or "lockstep resolve" not in failed[-1].get("message", ""):
            return [f"re-run refused without naming the version to resolve: {text[-400:]}"], code
        rcode, _, rtext = _cli(cli, ["resolve", str(version), "--url", url, "--dir", migrations_dir])
        if rcode != 0:
            return [f"lockstep resolve {version} failed: {rtext[-400:]}"], code
        code, events, text = _cli(cli, ["migrate"] + common)
    if code != 0:
        return [f"re-run exited {code}: {text[-600:]}"], code
    v += invariants.check_database(rnd, url, migrations_dir, complete=True)
    code2, events2, text2 = _cli(cli, ["migrate"] + common)
    ready = [e for e in events2 if e.get("event") == "ready"]
    if code2 != 0 or not ready or ready[-1].get("applied") != 0:
        v.append(f"a second re-run was not a no-op: exit {code2}: {text2[-400:]}")
    return v, code


def prepare(rnd, servers, workdir, db):
    """The round's files and a fresh database with the harness's control schema.
    Returns (migrations_dir, database url)."""
    shutil.rmtree(workdir, ignore_errors=True)
    migrations_dir = os.path.join(workdir, "migrations")
    os.makedirs(migrations_dir)
    for m in rnd.migrations:
        with open(os.path.join(migrations_dir, m.filename), "w") as f:
            f.write(m.sql())
    psql(servers.url, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    psql(servers.url, f"CREATE DATABASE {db}")
    url = url_for(servers.url, db)
    psql(url, "CREATE SCHEMA chaos; CREATE TABLE chaos.ctl (version int); "
              "CREATE TABLE chaos.applied (version int, kind text, pid int DEFAULT pg_backend_pid(), "
              "at timestamptz DEFAULT clock_timestamp()); "
              # Edge rounds: how many times the slow statement ran, and an
              # indexable expression that takes 1 ms a row.
              "CREATE SEQUENCE chaos.slow_runs; "
              "CREATE FUNCTION chaos.slow_id(int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS "
              "$$BEGIN PERFORM pg_sleep(0.001); RETURN $1; END$$")
    for m in rnd.migrations:
        if m.planned_failure:
            psql(url, f"INSERT INTO chaos.ctl VALUES ({m.version})")
    return migrations_dir, url


def run_round(rnd, servers, cli, workdir):
    db = f"chaos_{rnd.seed}"
    migrations_dir, url = prepare(rnd, servers, workdir, db)

    t0 = time.monotonic()
    runner = Runner(rnd, servers, cli, workdir, migrations_dir, db)
    procs = runner.run()
    herd_s = time.monotonic() - t0
    violations = invariants.check_processes(rnd, procs)
    violations += invariants.check_progress(rnd, procs)
    violations += invariants.poll_quiet(servers.url, db)
    violations += invariants.check_database(rnd, url, migrations_dir,
                                            untouched=rnd.faults[0] == "pgbouncer_session")
    rerun_violations, rerun_code = _rerun(rnd, servers, cli, migrations_dir, db)
    violations += rerun_violations
    codes = {}
    for p in procs:
        key = "killed" if p.killed else ("hung" if p.hung else str(p.code))
        codes[key] = codes.get(key, 0) + 1
    notes = []
    if rnd.edge:
        lead = procs[0]
        progress = len(lead.named("progress"))
        if lead.cut_at is not None:
            end = f"ended {lead.ended - lead.started - lead.spec.timeout_s:+.1f}s from its deadline" \
                if lead.ended is not None and not lead.hung else "hung past its deadline + 5 s"
            notes.append(f"silenced/cut leader p0 ({progress} progress events before): exit {lead.code}, {end}")
        notes.append(f"progress events: {sum(len(p.named('progress')) for p in procs)}")
    result = {
        "seed": rnd.seed,
        "edge": rnd.edge,
        "notes": notes,
        "describe": rnd.describe(),
        "faults_fired": runner.fired,
        "faults_missed": runner.missed,
        "exit_codes": codes,
        "herd_s": round(herd_s, 2),
        "rerun_exit": rerun_code,
        "violations": violations,
    }
    if not violations:
        psql(servers.url, f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        shutil.rmtree(workdir, ignore_errors=True)
    return result
