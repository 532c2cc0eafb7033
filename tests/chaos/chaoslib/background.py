"""Background rounds (`bg:N`, docs/reliability.md, issue #33): a background
migration's job, queued by a herd of boots (some SIGKILLed), then worked
through by several runners (`lockstep background run` and `lockstep replica
--background`) while faults strike during its batches: SIGKILL, SIGSTOP
(some past the batch's idle and statement bounds), a network cut (netns) or
a silent proxy, pg_terminate_backend of the batch's session, a server
restart or crash. Once the faults stop, a clean `background run` finishes
the job. The batch file counts every key it processes twice over, in a
counter column and in a side table with no constraint, so a key done twice
or never shows, whatever lockstep's own ledger says.

What must hold (check_job and check_runners; the self-test plants each break):

- exactly once: the job `succeeded`; every key of the table when the job was
  queued (up to its frozen upper bound) seen exactly once and its counter 1;
  no key above the bound (rows written after the queueing) touched;
  `rows_done` equals the number of keys, the cursor the bound;
- a boot only queues: after the boots, one job row, `queued`, nothing seen;
- nothing left behind: no advisory lock, no lockstep session idle in a
  transaction (chaoslib/invariants.poll_quiet);
- no hang: a boot exits within its deadline + 5 s; a `background run`
  within one batch session's budget (docs/background.md: connect, lock
  waits, the batch's statement bound, 5 s) + slack after the job succeeded
  (or after it was woken or its network mended, if later); a replica within
  that after its SIGTERM; each with exit 0 unless the harness killed it.
"""

import math
import os
import random
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field

from .herd import Proc, spawn
from .invariants import EXIT_CODES, poll_quiet
from .proxy import SilentProxy
from .servers import psql, url_for

# Faults during the batches, and how often a round draws each.
BG_FAULTS = {
    "kill_runner": 4,      # SIGKILL the runner in a batch (it holds the job's lock)
    "stop_short": 2,       # SIGSTOP 0.3-1.5 s, then SIGCONT
    "stop_long": 3,        # SIGSTOP past the batch's idle/statement bound + 1-3 s
    "terminate": 2,        # pg_terminate_backend of the session holding the job's lock
    "netcut": 2,           # the runners in the netns lose their link for 1-6 s (root only)
    "silent": 2,           # one runner's own proxy goes silent for 1-6 s, then mends
    "pg_restart": 1,       # pg_ctl restart -m fast
    "pg_crash": 1,         # immediate stop (commits not yet flushed are lost) and recovery
}
SERVER_FAULTS = ("pg_restart", "pg_crash")
KEY_TYPES = ("bigint", "composite", "text")
# A batch session's budget (detail/background/runner.hpp, JobRunner::budget):
# the statement bound (20 x --batch-target, at least 1 s) + 2 x lock_timeout
# (2 s) + 5 s + connect_timeout (10 s, or --timeout if shorter).
LOCK_TIMEOUT_S = 2.0
CONNECT_TIMEOUT_S = 10.0
# A loaded 2-core machine: scheduling, a backoff pause (at most 3.2 s), the
# last look that finds nothing left.
SLACK_S = 8.0
BOOT_TIMEOUT_S = 30
RUN_TIMEOUT_S = 60     # `background run --timeout`: it gives up after that long of failed sessions


def statement_bound_s(target_ms):
    return max(1.0, 20 * target_ms / 1000)


def budget_s(target_ms):
    return statement_bound_s(target_ms) + 2 * LOCK_TIMEOUT_S + 5.0 + CONNECT_TIMEOUT_S


@dataclass
class BgSpec:
    index: int
    kind: str              # boot | run | replica | clean
    route: str = "direct"  # direct | veth | proxy
    target_ms: int = 500   # --batch-target
    lock: str = "try"      # boots only
    kill_at_s: float = -1  # boots only: SIGKILL this long after the release (<0: never)
    timeout_s: float = BOOT_TIMEOUT_S

    @property
    def name(self):
        return {"boot": "b", "run": "r", "replica": "s", "clean": "c"}[self.kind] + str(self.index)

    @property
    def patient(self):
        return True


@dataclass
class BgRound:
    seed: int
    key: str                 # bigint | composite | text
    rows: int
    batch_size: int
    sleep_s: float           # per batch, so that faults strike inside batches
    key_step: int            # bigint: keys (g - rows/3) * step; composite: keys per first column
    collation: str           # text keys: the column's collation
    boots: list = field(default_factory=list)
    runners: list = field(default_factory=list)
    faults: list = field(default_factory=list)   # (fault, at this fraction of the rows done, detail)
    respawn: bool = False    # a killed runner is replaced by a new one
    extra_rows: int = 50     # written above the bound while the runners work
    after: bool = False      # a plain migration after the background one

    @property
    def key_cols(self):
        return {"bigint": ["id"], "composite": ["a", "b"], "text": ["k"]}[self.key]

    def describe(self):
        runners = ",".join(f"{r.name}:{r.route if r.route != 'direct' else ''}{r.target_ms}ms" for r in self.runners)
        faults = ",".join(f"{f}@{at:.2f}{'(' + str(d) + ')' if d else ''}" for f, at, d in self.faults) or "none"
        kills = sum(1 for b in self.boots if b.kill_at_s >= 0)
        return (f"seed={self.seed} bg key={self.key}{'/' + self.collation if self.key == 'text' else ''} "
                f"rows={self.rows} batch={self.batch_size} sleep={self.sleep_s}s boots={len(self.boots)}"
                f"(killed {kills}) runners={runners}{' respawn' if self.respawn else ''} faults={faults}")


def draw_background(seed, netns=True):
    rng = random.Random(seed * 1009 + 33)
    key = rng.choice(KEY_TYPES)
    rows = rng.randint(3000, 30000)
    # 25-80 batches: on 2 cores a batch (a session of its own, the job's
    # lock, a keyset probe, the file with its sleep, a 50 ms pause) takes
    # 0.1-0.3 s, so a job lasts 3-20 s (with 15 batches most faults came
    # too late; with 120 a loaded round took 40 s).
    batches = rng.randint(25, 80)
    batch_size = max(1, math.ceil(rows / batches))
    rnd = BgRound(seed=seed, key=key, rows=rows, batch_size=batch_size,
                  # Well under the shortest target (100 ms): the runner sizes
                  # batches toward its target, and a sleep above it would
                  # shrink them to one row.
                  sleep_s=rng.choice([0.01, 0.02, 0.04]),
                  key_step=rng.choice([1, 3, 1000003]) if key == "bigint" else rng.choice([1, 7, 50, 400]),
                  collation=rng.choice(["C", "default", "und-x-icu"]),
                  after=rng.random() < 0.3)
    n_boots = rng.randint(2, 6)
    for i in range(n_boots):
        killed = i < n_boots - 1 and rng.random() < 0.35   # the last one always queues
        rnd.boots.append(BgSpec(i, "boot", lock=rng.choice(["try", "try", "blocking", "transaction"]),
                                kill_at_s=rng.uniform(0.0, 0.8) if killed else -1))
    kinds = [k for k in BG_FAULTS if netns or k != "netcut"]
    n_faults = rng.randint(2, 6)
    faults = []
    server = False
    for _ in range(n_faults):
        f = rng.choices(kinds, weights=[BG_FAULTS[k] for k in kinds])[0]
        if f in SERVER_FAULTS:
            if server:
                f = "kill_runner"
            server = True
        faults.append(f)
    n_runners = rng.randint(2, 5)
    for i in range(n_runners):
        rnd.runners.append(BgSpec(i, rng.choice(["run", "run", "replica"]), target_ms=rng.choice([100, 200, 300])))
    # The network faults need runners on their routes: the netns's veth (one
    # or two runners) or a proxy of the runner's own.
    if "netcut" in faults:
        for r in rng.sample(rnd.runners, min(len(rnd.runners), rng.randint(1, 2))):
            r.route = "veth"
    if "silent" in faults:
        direct = [r for r in rnd.runners if r.route == "direct"] or rnd.runners
        rng.choice(direct).route = "proxy"
    at = sorted(rng.uniform(0.05, 0.85) for _ in faults)
    for f, frac in zip(faults, at):
        detail = ""
        if f == "stop_short":
            detail = round(rng.uniform(0.3, 1.5), 1)
        elif f == "stop_long":
            detail = round(rng.uniform(1.0, 3.0), 1)   # past the victim's own statement bound
        elif f in ("netcut", "silent"):
            detail = round(rng.uniform(1.0, 6.0), 1)
        rnd.faults.append((f, frac, detail))
    rnd.respawn = rng.random() < 0.5
    rnd.extra_rows = rng.choice([0, 50, 500])
    return rnd


# ---- files -------------------------------------------------------------------------

def _items_sql(rnd):
    n = rnd.rows
    if rnd.key == "bigint":
        return (f"CREATE TABLE public.items (id bigint PRIMARY KEY, touched int NOT NULL DEFAULT 0, note text);\n"
                f"INSERT INTO public.items (id, note) SELECT (g - {n // 3})::bigint * {rnd.key_step}, 'row ' || g "
                f"FROM generate_series(1, {n}) g;\n"
                f"CREATE TABLE public.seen (id bigint NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp(), "
                f"pid int NOT NULL DEFAULT pg_backend_pid());\n")
    if rnd.key == "composite":
        w = rnd.key_step
        return (f"CREATE TABLE public.items (a int NOT NULL, b int NOT NULL, touched int NOT NULL DEFAULT 0, "
                f"note text, PRIMARY KEY (a, b));\n"
                f"INSERT INTO public.items (a, b, note) SELECT g / {w} - {n // (3 * w)}, (g % {w}) * 7 - 50, 'row ' || g "
                f"FROM generate_series(1, {n}) g;\n"
                f"CREATE TABLE public.seen (a int NOT NULL, b int NOT NULL, "
                f"at timestamptz NOT NULL DEFAULT clock_timestamp(), pid int NOT NULL DEFAULT pg_backend_pid());\n")
    collate = "" if rnd.collation == "default" else f' COLLATE "{rnd.collation}"'
    # Hex, upper-case hex, words with a space, zero-padded, and non-ASCII:
    # orders differ between collations; each is unique.
    return (f"CREATE TABLE public.items (k text{collate} PRIMARY KEY, touched int NOT NULL DEFAULT 0, note text);\n"
            f"INSERT INTO public.items (k, note) SELECT CASE g % 5 WHEN 0 THEN md5(g::text) "
            f"WHEN 1 THEN upper(md5(g::text)) WHEN 2 THEN 'k ' || g WHEN 3 THEN 'K-' || lpad(g::text, 6, '0') "
            f"ELSE 'é' || g END, 'row ' || g FROM generate_series(1, {n}) g;\n"
            f"CREATE TABLE public.seen (k text{collate} NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp(), "
            f"pid int NOT NULL DEFAULT pg_backend_pid());\n")


def _batch_sql(rnd):
    cols = rnd.key_cols
    key = cols[0] if len(cols) == 1 else f"({', '.join(cols)})"
    sleep = f"SELECT pg_sleep({rnd.sleep_s});\n" if rnd.sleep_s else ""
    return (f"-- lockstep:background\n-- lockstep:batch-over=public.items({', '.join(cols)})\n"
            f"-- lockstep:batch-size={rnd.batch_size}\n"
            f"UPDATE public.items SET touched = touched + 1 WHERE {key} BETWEEN :lo AND :hi;\n"
            f"INSERT INTO public.seen ({', '.join(cols)}) SELECT {', '.join(cols)} FROM public.items "
            f"WHERE {key} BETWEEN :lo AND :hi;\n" + sleep)


def write_files(rnd, migrations_dir):
    files = {"0001_items.sql": _items_sql(rnd), "0002_backfill.sql": _batch_sql(rnd)}
    if rnd.after:
        files["0003_after.sql"] = "CREATE TABLE public.after_bg (id int PRIMARY KEY);\n"
    for name, sql in files.items():
        with open(os.path.join(migrations_dir, name), "w") as f:
            f.write(sql)
    return len(files)


def _above_bound_sql(rnd, n):
    """Rows written after the queueing, every key above the frozen bound."""
    if rnd.key == "bigint":
        return (f"INSERT INTO public.items (id, note) SELECT m + g * {rnd.key_step}, 'new' FROM "
                f"(SELECT max(id) AS m FROM chaos.expected) x, generate_series(1, {n}) g")
    if rnd.key == "composite":
        return (f"INSERT INTO public.items (a, b, note) SELECT m + 1 + g / 10, g % 10, 'new' FROM "
                f"(SELECT max(a) AS m FROM chaos.expected) x, generate_series(1, {n}) g")
    # Under the column's own collation, a string followed by more is greater
    # than the greatest key in every collation this harness draws; kept only if so.
    return (f"INSERT INTO public.items (k, note) SELECT c, 'new' FROM (SELECT m || 'zz' || g AS c FROM "
            f"(SELECT max(k) AS m FROM chaos.expected) x, generate_series(1, {n}) g) y "
            f"WHERE c > (SELECT max(k) FROM chaos.expected)")


# ---- the checks (pure over a database: the self-test feeds it broken ones) ----------

def check_queued(url, migrations):
    """After the boots: the ledger 1..n, one job, queued, and not one key processed."""
    v = []
    versions, jobs, seen, touched = psql(
        url, "SELECT (SELECT string_agg(version::text, ',' ORDER BY version) FROM lockstep.migrations), "
             "(SELECT string_agg(concat_ws(' ', version, state, rows_done, batches), ';') FROM lockstep.jobs), "
             "(SELECT count(*) FROM public.seen), (SELECT count(*) FROM public.items WHERE touched <> 0)")[0]
    versions = sorted(int(x) for x in versions.split(",") if x)
    if versions != list(range(1, migrations + 1)):
        v.append(f"after the boots the ledger has {versions}, not 1..{migrations}")
    jobs = [j.split(" ") for j in jobs.split(";") if j]
    if len(jobs) != 1 or jobs[0][0] != "2":
        v.append(f"after the boots the jobs are {jobs}, not one job of version 2")
    elif jobs[0][1] != "queued" or jobs[0][2] != "0" or jobs[0][3] != "0":
        v.append(f"a boot ran the job: state {jobs[0][1]}, rows_done {jobs[0][2]}, batches {jobs[0][3]}")
    if seen != "0" or touched != "0":
        v.append(f"a boot ran batches: {seen} key(s) seen, {touched} counted")
    return v


def check_job(url, key_cols):
    """Exactly once per key, against chaos.expected (the table's keys when
    the job was queued, taken before any runner started). One query, one
    snapshot (and one connection: the self-test calls this often)."""
    v = []
    cols = ", ".join(key_cols)
    same = " AND ".join(f"s.{c} = e.{c}" for c in key_cols)
    sql = (
        f"WITH twice AS (SELECT ({cols})::text AS ks, count(*) AS n FROM public.seen GROUP BY {cols} "
        f"HAVING count(*) > 1), "
        f"missing AS (SELECT ({cols})::text AS ks FROM chaos.expected e "
        f"WHERE NOT EXISTS (SELECT 1 FROM public.seen s WHERE {same})), "
        f"outside AS (SELECT ({cols})::text AS ks FROM public.seen s "
        f"WHERE NOT EXISTS (SELECT 1 FROM chaos.expected e WHERE {same})), "
        f"counted AS (SELECT count(*) FILTER (WHERE e.{key_cols[0]} IS NOT NULL AND i.touched <> 1) AS off, "
        f"count(*) FILTER (WHERE e.{key_cols[0]} IS NULL AND i.touched <> 0) AS above "
        f"FROM public.items i LEFT JOIN chaos.expected e USING ({cols})) "
        f"SELECT j.state, j.rows_done, j.upper_bound::text, j.cursor::text, COALESCE(j.last_error, ''), "
        f"(SELECT count(*) FROM chaos.expected), "
        f"(SELECT count(*) FROM twice), (SELECT COALESCE(max(n), 0) FROM twice), (SELECT min(ks) FROM twice), "
        f"(SELECT count(*) FROM missing), (SELECT min(ks) FROM missing), "
        f"(SELECT count(*) FROM outside), (SELECT min(ks) FROM outside), "
        f"(SELECT off FROM counted), (SELECT above FROM counted), "
        f"(SELECT ARRAY[{', '.join(c + '::text' for c in key_cols)}]::text FROM chaos.expected "
        f"ORDER BY {', '.join(c + ' DESC' for c in key_cols)} LIMIT 1) "
        f"FROM lockstep.jobs j WHERE j.version = 2")
    rows = psql(url, sql)
    if not rows:
        return ["the job of version 2 is gone"]
    (state, rows_done, bound, cursor, last_error, expected, twice, most, twice_e, missing, missing_e,
     outside, outside_e, off, above, greatest) = rows[0]
    if state != "succeeded":
        v.append(f"the job ended {state}, not succeeded{': ' + last_error[:300] if last_error else ''}")
    if twice != "0":
        v.append(f"{twice} key(s) seen more than once (up to {most} times; e.g. {twice_e})")
    if missing != "0":
        v.append(f"{missing} key(s) of the job never seen (e.g. {missing_e})")
    if outside != "0":
        v.append(f"{outside} key(s) seen that were not the job's (above its bound; e.g. {outside_e})")
    if off != "0":
        v.append(f"{off} key(s) of the job whose counter is not 1")
    if above != "0":
        v.append(f"{above} key(s) above the job's bound counted (written after it was queued)")
    if rows_done != expected:
        v.append(f"rows_done is {rows_done}, not {expected} (the job's keys)")
    if state == "succeeded" and cursor != bound:
        v.append(f"the job succeeded with its cursor at {cursor}, not at its bound {bound}")
    if greatest and greatest != bound:
        v.append(f"the job's bound is {bound}, not the greatest key when it was queued ({greatest})")
    return v


def check_runners(procs, done_at):
    """Every process of the round exited well and in time; `done_at`: when
    the harness saw the job succeed (monotonic), or None."""
    v = []
    for p in procs:
        s = p.spec
        if p.hung:
            v.append(f"{s.name} ({s.kind}) still running {p.bound_s:.0f} s after {p.bound_from}: it hung")
            continue
        if p.killed or p.code is None:
            continue
        errors = p.named("error")
        if s.kind == "boot":
            ready = p.named("ready")
            if p.code != 0:
                v.append(f"boot {s.name} exited {p.code}: {(errors or [{}])[-1].get('message', '')[:200]}")
            elif not ready:
                v.append(f"boot {s.name} exited 0 without a ready event")
            continue
        if p.code != 0:
            documented = p.code in EXIT_CODES.values()
            v.append(f"{s.kind} runner {s.name} exited {p.code}{'' if documented else ' (not a documented code)'}: "
                     f"{(errors or [{}])[-1].get('message', '')[:200]}")
        if s.kind == "clean" and done_at is None:
            v.append(f"the clean runner {s.name} exited {p.code} but the job never succeeded")
    return v


def check_reports(procs, url):
    """What the runners reported against what the job's row holds: a batch
    is reported (background_batch, its number the job's count + 1, read
    under the job's lock) only after its COMMIT returned, so no number may
    be reported twice, and the job is reported finished once. A number
    reported twice means a batch someone was told of was taken back (or run
    twice); two background_succeeded, a finish taken back."""
    v = []
    by_number = {}
    finished = []
    for p in procs:
        for e in p.named("background_batch"):
            if e.get("version") == 2:
                by_number.setdefault(e.get("batch"), []).append(p.spec.name)
        finished += [p.spec.name for e in p.named("background_succeeded") if e.get("version") == 2]
    twice = {n: who for n, who in by_number.items() if len(who) > 1}
    if twice:
        n = min(twice)
        v.append(f"{len(twice)} batch number(s) reported committed twice (e.g. batch {n} by "
                 f"{', '.join(twice[n])}): a batch someone was told of was lost or run again")
    if len(finished) > 1:
        v.append(f"the job was reported finished {len(finished)} times ({', '.join(finished)})")
    rows = psql(url, "SELECT batches FROM lockstep.jobs WHERE version = 2")
    if rows and by_number and max(by_number) > int(rows[0][0]):
        v.append(f"batch {max(by_number)} was reported committed, but the job counts {rows[0][0]} batches")
    return v


# ---- the round -----------------------------------------------------------------------

class BgProc(Proc):
    def __init__(self, spec, argv, out_path):
        super().__init__(spec, argv, out_path)
        self.bound_s = 0.0
        self.bound_from = ""
        self.woke_at = None       # monotonic: SIGCONT, or the mend of its network
        self.termed_at = None     # monotonic: SIGTERM (replicas, at the end)
        self.pause_s = 0.0        # SIGSTOP for this long


class BgRunner:
    def __init__(self, rnd, servers, cli, workdir):
        self.rnd = rnd
        self.servers = servers
        self.cli = cli
        self.workdir = workdir
        self.db = f"chaos_bg_{rnd.seed}"
        self.url = url_for(servers.url, self.db)
        self.rng = random.Random(rnd.seed * 7907 + 5)
        self.procs = []
        self.proxies = {}
        self.fired = []
        self.missed = []
        self.notes = []
        self.v = []
        self.done_at = None
        self.out = os.path.join(workdir, "out")
        self.migrations_dir = os.path.join(workdir, "migrations")

    # -- processes

    def _url(self, spec):
        if spec.route == "veth":
            base = self.servers.veth_url
        elif spec.route == "proxy":
            base = self.proxies[spec.name].url("postgres")
        else:
            base = self.servers.url
        # Its own application_name: the harness finds which runner's session
        # holds the job's lock (poll_quiet looks at lockstep% sessions).
        return url_for(base, self.db) + f"?application_name=lockstep-bg-{spec.name}"

    def _argv(self, spec):
        r = self.rnd
        common = ["--dir", self.migrations_dir, "--url", self._url(spec), "--host", spec.name,
                  "--deploy-version", f"chaos-bg-{r.seed}"]
        if spec.kind == "boot":
            argv = [self.cli, "migrate"] + common + ["--timeout", f"{BOOT_TIMEOUT_S}s", "--lock", spec.lock]
        elif spec.kind == "replica":
            argv = [self.cli, "replica"] + common + ["--timeout", f"{BOOT_TIMEOUT_S}s", "--background",
                                                    "--batch-target", f"{spec.target_ms}ms"]
        else:
            argv = [self.cli, "background", "run"] + common + ["--timeout", f"{RUN_TIMEOUT_S}s",
                                                              "--batch-target", f"{spec.target_ms}ms"]
        if spec.route == "veth":
            argv = ["ip", "netns", "exec", self.servers.netns.name] + argv
        return argv

    def start(self, specs):
        procs = []
        for s in specs:
            if s.route == "proxy" and s.name not in self.proxies:
                host, _, port = self.servers.url.split("@")[1].split("/")[0].rpartition(":")
                self.proxies[s.name] = SilentProxy(host, port)
            procs.append(BgProc(s, self._argv(s), os.path.join(self.out, f"{s.name}.jsonl")))
        self.procs += procs
        spawn(procs)()
        return procs

    def tick(self):
        now = time.monotonic()
        for p in self.procs:
            p.read_events()
            p.poll_exit()
            if p.stopped_at is not None and p.continued_at is None and now >= p.stopped_at + p.pause_s:
                p.popen.send_signal(signal.SIGCONT)
                p.continued_at = p.woke_at = time.monotonic()
        for name, (proxy, until) in list(self.silenced.items()):
            if now >= until:
                proxy.mend()
                del self.silenced[name]
                for p in self.procs:
                    if p.spec.name == name:
                        p.woke_at = now
        if self.cut_until is not None and now >= self.cut_until:
            self.servers.netns.mend()
            self.cut_until = None
            for p in self.procs:
                if p.spec.route == "veth":
                    p.woke_at = now

    def lock_holders(self):
        """The names of the processes whose sessions hold an advisory lock in the round's database."""
        rows = psql(self.servers.url,
                    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    f"WHERE l.locktype = 'advisory' AND l.granted AND a.datname = '{self.db}'", check=False) or []
        return [r[0][len("lockstep-bg-"):] for r in rows if r[0].startswith("lockstep-bg-")]

    def progress(self):
        """(rows_done, state, whether a runner's session holds the job's lock) in one query."""
        rows = psql(self.url, "SELECT rows_done, state, EXISTS (SELECT 1 FROM pg_locks l JOIN pg_stat_activity a "
                              "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND "
                              "a.datname = current_database() AND a.application_name LIKE 'lockstep-bg-%') "
                              "FROM lockstep.jobs WHERE version = 2", check=False)
        return (int(rows[0][0]), rows[0][1], rows[0][2] == "t") if rows else (None, None, False)

    # -- faults

    def live_runners(self):
        return [p for p in self.procs if p.spec.kind in ("run", "replica") and not p.poll_exit() and not p.killed
                and (p.stopped_at is None or p.continued_at is not None)]

    def victim(self, want=None):
        live = self.live_runners()
        if want:
            live = [p for p in live if want(p)]
        if not live:
            return None
        holders = set(self.lock_holders())
        busy = [p for p in live if p.spec.name in holders]
        self.in_batch = bool(busy)
        return busy[0] if busy else self.rng.choice(live)

    def strike(self, fault, detail):
        if fault in ("pg_restart", "pg_crash"):
            self.servers.restart(crash=fault == "pg_crash")
            return "server"
        if fault == "terminate":
            # The session in a batch (it holds the job's lock); with none in
            # a batch at that moment, every runner's session.
            rows = psql(self.servers.url,
                        "SELECT a.application_name, pg_terminate_backend(l.pid) FROM pg_locks l "
                        "JOIN pg_stat_activity a ON a.pid = l.pid "
                        f"WHERE l.locktype = 'advisory' AND l.granted AND a.datname = '{self.db}'", check=False)
            self.in_batch = bool(rows)
            if not rows:
                rows = psql(self.servers.url,
                            "SELECT application_name, pg_terminate_backend(pid) FROM pg_stat_activity "
                            f"WHERE datname = '{self.db}' AND application_name LIKE 'lockstep-bg-%'", check=False)
            return ",".join(r[0].replace("lockstep-bg-", "") for r in rows) if rows else None
        if fault == "netcut":
            if not self.servers.netns.ok or self.cut_until is not None:
                return None
            names = [p.spec.name for p in self.live_runners() if p.spec.route == "veth"]
            if not names:
                return None
            self.servers.netns.cut()
            self.cut_until = time.monotonic() + detail
            for p in self.procs:
                if p.spec.route == "veth":
                    p.cut_at = time.monotonic()
            return ",".join(names)
        if fault == "silent":
            p = self.victim(lambda q: q.spec.route == "proxy" and q.spec.name not in self.silenced)
            if p is None:
                return None
            self.proxies[p.spec.name].silence()
            self.silenced[p.spec.name] = (self.proxies[p.spec.name], time.monotonic() + detail)
            p.cut_at = time.monotonic()
            return p.spec.name
        p = self.victim()
        if p is None:
            return None
        if fault == "kill_runner":
            p.popen.send_signal(signal.SIGKILL)
            p.killed = True
            if self.rnd.respawn:
                self.spawn_replacement(p.spec)
            return p.spec.name
        # stop_short / stop_long
        p.pause_s = detail if fault == "stop_short" else statement_bound_s(p.spec.target_ms) + detail
        p.popen.send_signal(signal.SIGSTOP)
        # A runner may be stopped again after it woke (seed bg:3's first run
        # left one frozen for good when the earlier SIGCONT was remembered).
        p.stopped_at, p.continued_at = time.monotonic(), None
        return f"{p.spec.name} {p.pause_s:.1f}s"

    def spawn_replacement(self, spec):
        n = max(q.spec.index for q in self.procs if q.spec.kind in ("run", "replica")) + 1
        self.start([BgSpec(n, spec.kind, "direct", spec.target_ms)])

    # -- the round

    def run(self):
        self.silenced = {}
        self.cut_until = None
        shutil.rmtree(self.workdir, ignore_errors=True)
        os.makedirs(self.out)
        os.makedirs(self.migrations_dir)
        n_files = write_files(self.rnd, self.migrations_dir)
        psql(self.servers.url, f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)")
        psql(self.servers.url, f"CREATE DATABASE {self.db}")
        psql(self.url, "CREATE SCHEMA chaos")
        try:
            self._boots(n_files)
            if not self.v:
                self._runners()
        finally:
            for p in self.procs:
                if p.popen is not None and p.popen.poll() is None:
                    p.popen.send_signal(signal.SIGCONT)
                    p.popen.send_signal(signal.SIGKILL)
                    p.popen.wait()
            if self.servers.netns.ok:
                self.servers.netns.mend()
            for proxy in self.proxies.values():
                proxy.close()

    def _boots(self, n_files):
        boots = [BgProc(s, self._argv(s), os.path.join(self.out, f"{s.name}.jsonl")) for s in self.rnd.boots]
        self.procs += boots
        spawn(boots)()
        t0 = time.monotonic()
        kills = sorted((s.kill_at_s, p) for s, p in zip(self.rnd.boots, boots) if s.kill_at_s >= 0)
        while any(not p.poll_exit() for p in boots):
            now = time.monotonic()
            while kills and now >= t0 + kills[0][0]:
                _, p = kills.pop(0)
                if not p.poll_exit():
                    p.popen.send_signal(signal.SIGKILL)
                    p.killed = True
                    self.fired.append(("kill_boot", p.spec.name))
            for p in boots:
                p.read_events()
                if not p.poll_exit() and now > p.deadline_s():
                    p.hung, p.bound_s, p.bound_from = True, p.spec.timeout_s + 5, "its clock started"
                    p.popen.send_signal(signal.SIGKILL)
            time.sleep(0.02)
        self.missed += ["kill_boot"] * len(kills)
        self.v += check_runners(boots, None)
        self.v += check_queued(self.url, n_files)

    def _runners(self):
        r = self.rnd
        key = ", ".join(r.key_cols)
        # The job's keys: the table as the job was queued (nothing writes it
        # between the boots and now), then rows above the bound.
        # Durable before any fault: the test server runs synchronous_commit =
        # off, and a crash would lose a recent asynchronous commit.
        psql(self.url, f"SET synchronous_commit = on; CREATE TABLE chaos.expected AS SELECT {key} FROM public.items")
        if r.extra_rows:
            psql(self.url, "SET synchronous_commit = on; " + _above_bound_sql(r, r.extra_rows))
        total = int(psql(self.url, "SELECT count(*) FROM chaos.expected")[0][0])
        self.start(r.runners)
        t0 = time.monotonic()
        plan = list(r.faults)
        last_poll = 0.0
        reached_at = None
        # The faults, one at a time, each once the job is that far along; the
        # victim is the runner in a batch (its session holds the job's lock),
        # waited for up to 0.2 s (a job does a batch in 50-300 ms). A window
        # of 90 s at most: then the rest are missed.
        while time.monotonic() < t0 + 90:
            self.tick()
            now = time.monotonic()
            if now - last_poll >= 0.05:
                last_poll = now
                done, state, held = self.progress()
                if state == "succeeded" and self.done_at is None:
                    self.done_at = now
                if state in ("succeeded", "failed", "cancelled"):
                    break
                if plan and done is not None and done >= plan[0][1] * total:
                    reached_at = reached_at or now
                    fault, _, detail = plan[0]
                    if held or now - reached_at > 0.2 or fault in SERVER_FAULTS:
                        plan.pop(0)
                        reached_at = None
                        self.in_batch = False
                        what = self.strike(fault, detail)
                        if what is None:
                            self.missed.append(fault)
                        else:
                            # "in batch": the victim's session held the job's lock
                            self.fired.append((fault, what + (" in batch" if self.in_batch else "")))
            if not any(p.spec.kind in ("run", "replica") and not p.poll_exit() for p in self.procs):
                break   # every runner killed (no respawn): the clean runner finishes (soak: 3 rounds
                        # of 214 waited out the 90 s window with nobody left to strike)
            time.sleep(0.02)
        self.missed += [f for f, _, _ in plan]
        # The faults stop: everyone frozen wakes, every network mends.
        for p in self.procs:
            if p.stopped_at is not None and p.continued_at is None and not p.poll_exit():
                p.popen.send_signal(signal.SIGCONT)
                p.continued_at = p.woke_at = time.monotonic()
        for proxy, _ in self.silenced.values():
            proxy.mend()
        if self.silenced or self.cut_until is not None:
            for p in self.procs:
                if p.spec.name in self.silenced or (self.cut_until is not None and p.spec.route == "veth"):
                    p.woke_at = time.monotonic()
        self.silenced = {}
        if self.cut_until is not None:
            self.servers.netns.mend()
            self.cut_until = None
        self.notes.append(f"faults over at {time.monotonic() - t0:.1f}s, {self.progress()[0]} of {total} rows done")
        # A clean runner finishes the job.
        clean = self.start([BgSpec(0, "clean", "direct", 200)])[0]
        end = time.monotonic() + budget_s(200) + 60
        while not clean.poll_exit() and time.monotonic() < end:
            self.tick()
            if self.done_at is None and self.progress()[1] == "succeeded":
                self.done_at = time.monotonic()
            time.sleep(0.1)
        if self.done_at is None and self.progress()[1] == "succeeded":
            self.done_at = time.monotonic()
        if not clean.poll_exit():
            clean.hung, clean.bound_s, clean.bound_from = True, end - clean.started, "it started"
        self.notes.append(f"job done at {self.done_at - t0:.1f}s" if self.done_at else "job never done")
        self._end_runners()
        self.v += check_runners(self.procs, self.done_at)
        self.v += poll_quiet(self.servers.url, self.db)
        self.v += check_job(self.url, r.key_cols)
        self.v += check_reports(self.procs, self.url)

    def _end_runners(self):
        """Waits for each runner to exit by its bound; replicas are sent SIGTERM."""
        base = self.done_at or time.monotonic()
        for p in self.procs:
            if p.spec.kind == "replica" and not p.poll_exit():
                p.popen.send_signal(signal.SIGTERM)
                p.termed_at = time.monotonic()
        for p in self.procs:
            if p.spec.kind not in ("run", "replica") or p.killed:
                continue
            start = p.termed_at if p.spec.kind == "replica" else base
            frm = "its SIGTERM" if p.spec.kind == "replica" else "the job succeeded"
            if p.woke_at is not None and p.woke_at > start:
                start, frm = p.woke_at, "it was woken or its network mended"
            p.bound_s, p.bound_from = budget_s(p.spec.target_ms) + SLACK_S, frm
            while not p.poll_exit() and time.monotonic() < start + p.bound_s:
                self.tick()
                time.sleep(0.05)
            if not p.poll_exit():
                p.hung = True
                self.dump_stacks(p)
                p.popen.send_signal(signal.SIGKILL)
                p.popen.wait()

    def dump_stacks(self, p):
        """Where a hung process stands: every thread's stack (gdb, when there
        is one), next to its events, before it is killed."""
        if shutil.which("gdb") is None:
            return
        path = os.path.join(self.out, f"{p.spec.name}.stacks.txt")
        with open(path, "w") as f:
            subprocess.run(["gdb", "-p", str(p.popen.pid), "-batch", "-ex", "thread apply all bt"],
                           stdout=f, stderr=subprocess.STDOUT, timeout=60, check=False)
        self.notes.append(f"{p.spec.name}'s stacks: {path}")


def run_background_round(rnd, servers, cli, workdir):
    runner = BgRunner(rnd, servers, cli, workdir)
    t0 = time.monotonic()
    runner.run()
    codes = {}
    for p in runner.procs:
        k = "killed" if p.killed else ("hung" if p.hung else str(p.code))
        codes[k] = codes.get(k, 0) + 1
    result = {
        "seed": rnd.seed,
        "kind": "bg",
        "edge": False,
        "describe": rnd.describe(),
        "faults_fired": runner.fired,
        "faults_missed": runner.missed,
        "exit_codes": codes,
        "herd_s": round(time.monotonic() - t0, 2),
        "notes": runner.notes,
        "violations": runner.v,
    }
    if not runner.v:
        psql(servers.url, f"DROP DATABASE IF EXISTS {runner.db} WITH (FORCE)")
        shutil.rmtree(workdir, ignore_errors=True)
    return result
