#!/usr/bin/env python3
"""lockstep next to the tools teams would pick instead, in the same run.

  peers.py STATE_DIR LOCKSTEP OUT_DIR [--quick]

Every tool gets the same generated migration set (N files, each a CREATE TABLE
and a CREATE INDEX) in its own layout and runs with its own defaults, against
the same PostgreSQL server (pg_server.sh state in STATE_DIR):

  - no-op boot: everything already applied; median of alternating runs;
  - apply N: a fresh database and a CHECKPOINT before each run, alternating;
  - herds of 16 and 64 processes released at once on a fresh database:
    wall time until the last one exits, and how many exited non-zero, and
    whether the schema came out whole.

Peers are found in LOCKSTEP_PEERS_DIR (benchmarks/peers/install puts dbmate
and node-pg-migrate there) and on PATH (sqitch, alembic); a missing one is
skipped and said so. Results: OUT_DIR/peers.json and peers.md, each peer as a
ratio to lockstep from the same run.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STATE, LOCKSTEP, OUT = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
QUICK = "--quick" in sys.argv
N = int(os.environ.get("LOCKSTEP_PEERS_N", "200"))
ROUNDS = 3 if QUICK else 7
NOOP_RUNS = 5 if QUICK else 15
HERDS = [16] if QUICK else [16, 64]
HERD_LIMIT_S = 150
PEERS_DIR = Path(os.environ.get("LOCKSTEP_PEERS_DIR", Path.home() / ".cache/lockstep-peers"))

SERVER = (STATE / "url").read_text().strip()
BASE = SERVER.rsplit("/", 1)[0]
PORT = (STATE / "port").read_text().strip()


def url(db):
    return f"{BASE}/{db}"


def psql(db, *sql):
    args = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url(db)]
    for s in sql:
        args += ["-c", s]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def scalar(db, sql):
    return subprocess.run(["psql", "-X", "-At", "-d", url(db), "-c", sql], check=True,
                          capture_output=True, text=True).stdout.strip()


def fresh(db):
    psql("postgres", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)", f"CREATE DATABASE {db}", "CHECKPOINT")


def table_sql(i):
    return f"CREATE TABLE t{i} (id bigint PRIMARY KEY, note text);\nCREATE INDEX t{i}_note ON t{i} (note);\n"


# ---- each tool: its own layout, its own command, its own defaults ----------

class Tool:
    name = ""
    lock = ""  # what it does when several copies start at once

    def available(self):
        return True

    def version(self):
        return "this build"

    @staticmethod
    def version_of(argv):
        """The last word of a tool's --version output."""
        return subprocess.run(argv, capture_output=True, text=True).stdout.split()[-1]

    def noop_db(self):
        """The database this tool's no-op boots run against, everything applied."""
        return "peers_noop_" + self.name.replace("-", "_")

    def layout(self, root: Path):
        pass

    def argv(self, db):
        raise NotImplementedError

    def env(self, db):
        return dict(os.environ)

    def applied(self, db):
        """How many of the N migrations its own bookkeeping lists."""
        raise NotImplementedError


class Lockstep(Tool):
    name = "lockstep"
    lock = "pg_try_advisory_lock; the others poll the ledger until the leader is done"

    def layout(self, root):
        self.dir = root / "lockstep"
        self.dir.mkdir()
        for i in range(1, N + 1):
            (self.dir / f"{i:05d}_t{i}.sql").write_text(table_sql(i))

    def argv(self, db):
        return [LOCKSTEP, "migrate", "--dir", str(self.dir), "--url", url(db)]

    def applied(self, db):
        return int(scalar(db, "SELECT count(*) FROM lockstep.migrations"))


class Dbmate(Tool):
    name = "dbmate"
    lock = "none by default: every copy applies what it sees pending"

    def __init__(self):
        native = PEERS_DIR / "node_modules/@dbmate/linux-x64/bin/dbmate"
        self.bin = native if native.exists() else PEERS_DIR / "node_modules/.bin/dbmate"

    def available(self):
        return self.bin.exists()

    def version(self):
        return self.version_of([str(self.bin), "--version"])

    def layout(self, root):
        self.dir = root / "dbmate"
        self.dir.mkdir()
        for i in range(1, N + 1):
            (self.dir / f"{i:05d}_t{i}.sql").write_text(f"-- migrate:up\n{table_sql(i)}\n-- migrate:down\n")

    def argv(self, db):
        return [str(self.bin), "--url", url(db) + "?sslmode=disable", "--migrations-dir", str(self.dir),
                "--no-dump-schema", "migrate"]

    def applied(self, db):
        return int(scalar(db, "SELECT count(*) FROM schema_migrations"))


class NodePgMigrate(Tool):
    name = "node-pg-migrate"
    lock = "pg_advisory_lock by default; the others fail at once (\"Another migration is already running\")"

    def __init__(self):
        self.bin = PEERS_DIR / "node_modules/.bin/node-pg-migrate"

    def available(self):
        return self.bin.exists()

    def version(self):
        pkg = PEERS_DIR / "node_modules/node-pg-migrate/package.json"
        return json.loads(pkg.read_text())["version"]

    def layout(self, root):
        self.dir = root / "node-pg-migrate"
        self.dir.mkdir()
        for i in range(1, N + 1):
            (self.dir / f"{i:05d}_t{i}.sql").write_text(f"-- Up Migration\n{table_sql(i)}\n-- Down Migration\n")

    def argv(self, db):
        return [str(self.bin), "up", "-m", str(self.dir)]

    def env(self, db):
        e = dict(os.environ)
        e["DATABASE_URL"] = url(db)
        return e

    def applied(self, db):
        return int(scalar(db, "SELECT count(*) FROM pgmigrations"))


class Sqitch(Tool):
    name = "sqitch"
    lock = "pg_advisory_lock, waiting up to --lock-timeout (60 s) for the holder"

    def available(self):
        return shutil.which("sqitch") is not None

    def version(self):
        return self.version_of(["sqitch", "--version"])

    def layout(self, root):
        self.dir = root / "sqitch"
        (self.dir / "deploy").mkdir(parents=True)
        (self.dir / "sqitch.conf").write_text("[core]\n\tengine = pg\n\tplan_file = sqitch.plan\n\ttop_dir = .\n")
        plan = ["%syntax-version=1.0.0", "%project=bench", ""]
        for i in range(1, N + 1):
            plan.append(f"t{i} 2026-12-05T00:00:00Z Bench <bench@example.invalid> # table t{i}")
            (self.dir / "deploy" / f"t{i}.sql").write_text(f"BEGIN;\n{table_sql(i)}COMMIT;\n")
        (self.dir / "sqitch.plan").write_text("\n".join(plan) + "\n")

    def argv(self, db):
        return ["sqitch", "--chdir", str(self.dir), "deploy", "--target", f"db:pg://postgres@127.0.0.1:{PORT}/{db}"]

    def env(self, db):
        e = dict(os.environ)
        e.update(SQITCH_FULLNAME="Bench", SQITCH_EMAIL="bench@example.invalid")
        return e

    def applied(self, db):
        return int(scalar(db, "SELECT count(*) FROM sqitch.changes"))


class Alembic(Tool):
    name = "alembic"
    lock = "none: every copy applies what it sees pending, all in one transaction (env.py default)"

    def available(self):
        return shutil.which("alembic") is not None

    def version(self):
        return self.version_of(["alembic", "--version"])

    def layout(self, root):
        self.dir = root / "alembic"
        versions = self.dir / "scripts" / "versions"
        versions.mkdir(parents=True)
        (self.dir / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/scripts\n")
        # The env.py of alembic's own "generic" template, reading the URL from the environment.
        (self.dir / "scripts" / "env.py").write_text(
            "import os\nfrom alembic import context\nfrom sqlalchemy import create_engine\n"
            "engine = create_engine(os.environ['BENCH_URL'])\n"
            "with engine.connect() as connection:\n"
            "    context.configure(connection=connection, target_metadata=None)\n"
            "    with context.begin_transaction():\n"
            "        context.run_migrations()\n")
        for i in range(1, N + 1):
            down = f'"r{i - 1:05d}"' if i > 1 else "None"
            stmts = "".join(f"    op.execute({s.strip()!r})\n" for s in table_sql(i).strip().split("\n"))
            (versions / f"r{i:05d}_t{i}.py").write_text(
                f'revision = "r{i:05d}"\ndown_revision = {down}\nbranch_labels = None\ndepends_on = None\n'
                f"from alembic import op\n\ndef upgrade():\n{stmts}\ndef downgrade():\n    pass\n")

    def argv(self, db):
        return ["alembic", "-c", str(self.dir / "alembic.ini"), "upgrade", "head"]

    def env(self, db):
        e = dict(os.environ)
        e["BENCH_URL"] = url(db).replace("postgresql://", "postgresql+psycopg2://")
        return e

    def applied(self, db):
        # alembic keeps only the head revision; a whole schema has all N tables.
        head = scalar(db, "SELECT version_num FROM alembic_version")
        return int(head[1:]) if head else 0


# ---- measuring ------------------------------------------------------------------

def run_once(tool, db):
    """Wall ms of one run to completion, or None if it failed."""
    t0 = time.perf_counter()
    p = subprocess.run(tool.argv(db), env=tool.env(db), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ms = (time.perf_counter() - t0) * 1000
    if p.returncode != 0:
        sys.stderr.write(f"peers: {tool.name} failed ({p.returncode}): {p.stderr.decode()[-400:]}\n")
        return None
    return ms


def herd(tool, db, n):
    """n copies released at once: (wall ms until the last exits, how many failed)."""
    fresh(db)
    r, w = os.pipe()
    pids = []
    argv, env = tool.argv(db), tool.env(db)
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            os.close(w)
            os.read(r, 1)  # the release
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            os.execvpe(argv[0], argv, env)
        pids.append(pid)
    os.close(r)
    time.sleep(0.2)  # every child is waiting on the pipe
    t0 = time.perf_counter()
    os.write(w, b"x" * n)
    failed, left = 0, set(pids)
    while left:  # bounded: a copy still running after HERD_LIMIT_S is stopped and counts as failed
        for pid in list(left):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                left.discard(pid)
                failed += status != 0
        if left and time.perf_counter() - t0 > HERD_LIMIT_S:
            for pid in left:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            failed += len(left)
            left.clear()
        time.sleep(0.002)
    os.close(w)
    return (time.perf_counter() - t0) * 1000, failed


def whole(tool, db):
    tables = int(scalar(db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename ~ '^t[0-9]+$'"))
    try:
        listed = tool.applied(db)
    except subprocess.CalledProcessError:
        listed = 0
    return tables == N and listed == N


def main():
    tools = [Lockstep(), Dbmate(), NodePgMigrate(), Sqitch(), Alembic()]
    present = [t for t in tools if t.available()]
    for t in tools:
        if not t.available():
            print(f"peers: {t.name} is not installed (benchmarks/peers/install); skipped")
    work = Path(tempfile.mkdtemp(prefix="lockstep-peers."))
    try:
        for t in present:
            t.layout(work)
        results = {"migrations": N, "rounds": ROUNDS, "tools": {}}
        for t in present:
            results["tools"][t.name] = {"version": t.version(), "lock": t.lock}

        # apply N, alternating tools within each round
        apply_ms = {t.name: [] for t in present}
        for _ in range(ROUNDS):
            for t in present:
                fresh("peers_apply")
                ms = run_once(t, "peers_apply")
                if ms is not None and whole(t, "peers_apply"):
                    apply_ms[t.name].append(ms)

        # no-op boot: each tool on its own fully applied database
        for t in present:
            fresh(t.noop_db())
            run_once(t, t.noop_db())
        noop_ms = {t.name: [] for t in present}
        for _ in range(NOOP_RUNS):
            for t in present:
                ms = run_once(t, t.noop_db())
                if ms is not None:
                    noop_ms[t.name].append(ms)

        herds = {}
        for n in HERDS:
            for t in present:
                wall, failed = herd(t, "peers_herd", n)
                herds.setdefault(n, {})[t.name] = {"wall_ms": round(wall, 1), "failed": failed,
                                                   "schema_whole": whole(t, "peers_herd")}

        def med(v):
            return statistics.median(v) if v else None

        base_apply, base_noop = med(apply_ms["lockstep"]), med(noop_ms["lockstep"])
        for t in present:
            a, z = med(apply_ms[t.name]), med(noop_ms[t.name])
            results["tools"][t.name].update(
                apply_ms=round(a, 1) if a else None, apply_runs=len(apply_ms[t.name]),
                noop_ms=round(z, 1) if z else None, noop_runs=len(noop_ms[t.name]),
                herds={str(n): herds[n][t.name] for n in HERDS})
        rows = [f"| tool | version | no-op boot, ms | x lockstep | apply {N}, ms | x lockstep | "
                      + " | ".join(f"herd {n}: wall ms, failed, schema whole" for n in HERDS) + " | lock |",
                      "|---|---|---|---|---|---|" + "---|" * len(HERDS) + "---|"]

        def fmt(v):
            return f"{v:.1f}" if v is not None else "failed"

        def ratio(v, base):
            return f"{v / base:.2f}x" if v is not None and base else "-"

        for t in present:
            r = results["tools"][t.name]
            a, z = r["apply_ms"], r["noop_ms"]
            cells = [t.name, r["version"], fmt(z), ratio(z, base_noop), fmt(a), ratio(a, base_apply)]
            for n in HERDS:
                h = herds[n][t.name]
                cells.append(f"{h['wall_ms']:.0f}, {h['failed']} failed, {'yes' if h['schema_whole'] else 'NO'}")
            cells.append(t.lock)
            rows.append("| " + " | ".join(cells) + " |")
        print("\n".join(rows))
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "peers.json").write_text(json.dumps(results, indent=2) + "\n")
        (OUT / "peers.md").write_text(
            f"Migration tools on the same {N}-migration set, same server, same run "
            f"({ROUNDS} alternating apply rounds, {NOOP_RUNS} no-op runs; medians; each tool's defaults).\n\n"
            + "\n".join(rows) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
