"""Mixed-deploy rounds (docs/expand-contract.md): replicas of an old image
heartbeat while a new image that ships a contract migration rolls out; the
old ones are killed, stopped or shut down at random moments, and so is a new
one. What must hold is judged from the harness's own record of when each old
process could beat, and from the database:

- safety: the contract never commits while a replica of the old image could
  still beat (a SIGKILLed or frozen one counts until its lease ran out);
- exactly once: one ledger row, and a transactional contract's body ran once;
- liveness: once the last old replica is gone, a new replica applies it
  within lease + interval (plus slack for a 2-core machine);
- an old replica that wakes after the contract stops (exit 15) without
  registering again, and an old image booted afterwards refuses to start;
- a clean SIGTERM leaves no registry row behind.
"""

import os
import random
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .herd import Proc, spawn
from .proxy import SilentProxy
from .servers import psql, url_for

EXIT_CONTRACTED = 15
# A 2-core machine with a dozen processes and a server: scheduling, a beat's
# own round trips, a migrator run.
SLACK_S = 5.0
# A beat that cannot land fails when its own deadline (the beat budget)
# strikes; the watchdog and a busy machine may add a little.
NOTICE_SLACK_S = 2.5


@dataclass
class MixedSpec:
    index: int
    image: str           # old | new
    # old: kill | term | stop | holdout | silent (its connections go through
    # a SilentProxy that goes silent past its lease, then mends); new: live | kill
    fate: str
    at_s: float          # when the fate strikes, after the new image is up
    lock: str = "try"
    wait: str = "notify"

    @property
    def name(self):
        return f"{self.image}{self.index}"


@dataclass
class MixedRound:
    seed: int
    old_knows: int        # the old image's newest migration
    contract: int         # the new image's contract migration
    new_knows: int        # the new image's newest (> contract: an expand after it)
    notx_contract: bool
    interval_ms: int
    lease_ms: int
    procs: list = field(default_factory=list)
    # Edge rounds (chaoslib/edge.py): the shortest interval and lease the CLI
    # accepts (filled in at run time, asked of the CLI), a contract whose own
    # run lasts this many beat intervals, and --progress-interval 1s.
    edge: bool = False
    contract_beats: float = 0.0

    @property
    def holdout(self):
        return any(p.fate == "holdout" for p in self.procs)

    def describe(self):
        fates = ",".join(f"{p.name}:{p.fate}" for p in self.procs)
        return (f"seed={self.seed} {'edge ' if self.edge else ''}mixed old<= {self.old_knows} contract={self.contract}"
                f"{'[notx]' if self.notx_contract else ''} new<= {self.new_knows} "
                f"beat={self.interval_ms}ms lease={self.lease_ms}ms"
                f"{f' contract-runs={self.contract_beats:.1f}beats progress=1s' if self.edge else ''} procs={fates}")


def draw_versions(rng):
    """(what the old image knows, the contract, what the new image knows):
    the new image may ship an expand after its contract."""
    old_knows = rng.randint(1, 3)
    contract = old_knows + rng.randint(1, 2)
    return old_knows, contract, contract + rng.choice([0, 0, 1])


def draw_new_image(rng, procs, most, kill_chance):
    """Appends the new image's 2..`most` replicas to `procs` (the first one
    killed with `kill_chance`), each with its lock and wait policy, and
    draws whether the contract is a no-transaction one, which it returns."""
    n_new = rng.randint(2, most)
    killed_new = rng.random() < kill_chance
    for i in range(n_new):
        fate = "kill" if killed_new and i == 0 else "live"
        procs.append(MixedSpec(i, "new", fate, rng.uniform(0.0, 3.0),
                               lock=rng.choice(["try", "try", "blocking", "transaction"]),
                               wait=rng.choice(["notify", "poll"])))
    notx = rng.random() < 0.25
    if notx:  # a no-transaction migration cannot run under a transaction-scoped lock
        for p in procs:
            if p.lock == "transaction":
                p.lock = "try"
    return notx


def draw_mixed(seed):
    rng = random.Random(seed)
    old_knows, contract, new_knows = draw_versions(rng)
    interval = rng.choice([200, 300, 500])
    lease = interval * rng.choice([3, 4, 6])
    procs = []
    n_old = rng.randint(1, 4)
    holdout = rng.random() < 0.25
    for i in range(n_old):
        fate = "holdout" if holdout and i == 0 else rng.choice(["kill", "kill", "term", "stop"])
        procs.append(MixedSpec(i, "old", fate, rng.uniform(0.0, 2.5)))
    notx = draw_new_image(rng, procs, most=6, kill_chance=0.4)
    return MixedRound(seed, old_knows, contract, new_knows, notx, interval, lease, procs)


# ---- files ------------------------------------------------------------------------

def _expand(v):
    return (f"-- mixed: expand {v}\nCREATE TABLE public.m_{v} (id int PRIMARY KEY);\n"
            f"INSERT INTO chaos.applied (version, kind) VALUES ({v}, 'tx');\n")


def _contract(v, notx, sleep_s=0.0):
    # Edge rounds: the contract's own run outlasts a beat (its body is timed
    # from its first statement, so the sleep comes after the insert).
    sleep = f"SELECT pg_sleep({sleep_s:.2f});\n" if sleep_s > 0 else ""
    if notx:
        # Statement by statement, so idempotent: it may be run again.
        return (f"-- lockstep:phase=contract\n-- lockstep:no-transaction\n"
                f"INSERT INTO chaos.applied (version, kind) VALUES ({v}, 'contract');\n" + sleep +
                f"DROP INDEX CONCURRENTLY IF EXISTS public.m_1_old;\n"
                f"DROP TABLE IF EXISTS public.old_only;\n")
    return (f"-- lockstep:phase=contract\n-- mixed: what the old image still uses goes\n"
            f"INSERT INTO chaos.applied (version, kind) VALUES ({v}, 'contract');\n" + sleep +
            f"DROP INDEX public.m_1_old;\nDROP TABLE public.old_only;\n")


def write_images(rnd, workdir):
    dirs = {}
    for image, knows in (("old", rnd.old_knows), ("new", rnd.new_knows)):
        d = os.path.join(workdir, image)
        os.makedirs(d)
        for v in range(1, knows + 1):
            if v == 1:
                sql = (_expand(1) + "CREATE INDEX m_1_old ON public.m_1 (id);\n"
                       "CREATE TABLE public.old_only (id int);\n")
            elif v == rnd.contract:
                sql = _contract(v, rnd.notx_contract, rnd.contract_beats * rnd.interval_ms / 1000)
            else:
                sql = _expand(v)
            with open(os.path.join(d, f"{v:04d}_m{v}.sql"), "w") as f:
                f.write(sql)
        dirs[image] = d
    return dirs


# ---- the round ----------------------------------------------------------------------

def _ts(event):
    """An event's own wall-clock time (the harness reads files later)."""
    return datetime.strptime(event["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


class MixedProc(Proc):
    def __init__(self, spec, argv, out_path):
        super().__init__(spec, argv, out_path)
        self.faults = []          # (what, wall time): kill, term, stop, cont, silent, mend, end
        self.woke_at = None       # wall time of SIGCONT, or of the mend of a silent replica's network


class MixedRunner:
    def __init__(self, rnd, servers, cli, workdir):
        self.rnd = rnd
        self.servers = servers
        self.cli = cli
        self.workdir = workdir
        self.db = f"chaos_mixed_{rnd.seed}"
        self.url = url_for(servers.url, self.db)
        self.procs = []
        self.v = []           # violations
        self.notes = []
        self.proxies = {}     # name -> SilentProxy, for the old replicas whose fate is "silent"

    def argv(self, spec, dirs):
        r = self.rnd
        url = self.proxies[spec.name].url(self.db) if spec.name in self.proxies else self.url
        argv = [self.cli, "replica", "--dir", dirs[spec.image], "--url", url,
                "--deploy-version", f"mixed-{r.seed}-{spec.image}", "--host", spec.name,
                "--heartbeat", f"{r.interval_ms}ms", "--lease", f"{r.lease_ms}ms", "--timeout", "60s",
                "--lock", spec.lock, "--wait", spec.wait, "--stall-timeout", "6s"]
        if r.edge:
            argv += ["--progress-interval", "1s"]
        return argv

    def contract_row(self):
        """(ledger rows, body runs, wall time of the first run), in one
        snapshot: two queries could straddle the contract's commit."""
        has_ledger = psql(self.url, "SELECT to_regclass('lockstep.migrations') IS NOT NULL")[0][0] == "t"
        ledger = (f"(SELECT count(*) FROM lockstep.migrations WHERE version = {self.rnd.contract} AND contract)"
                  if has_ledger else "0")
        rows = psql(self.url, f"SELECT {ledger}, count(*), extract(epoch FROM min(at)) FROM chaos.applied "
                              f"WHERE kind = 'contract'")
        return int(rows[0][0]), int(rows[0][1]), (float(rows[0][2]) if rows[0][2] else None)

    def contract_committed_at(self):
        """Wall time the contract's ledger row was written (its commit), or None."""
        rows = psql(self.url, f"SELECT extract(epoch FROM applied_at) FROM lockstep.migrations "
                              f"WHERE version = {self.rnd.contract} AND contract", check=False)
        return float(rows[0][0]) if rows else None

    def lease_ends(self):
        """host -> wall time its registry row's lease runs out (the latest row)."""
        rows = psql(self.url, "SELECT host, extract(epoch FROM max(expires_at)) FROM lockstep.replicas GROUP BY 1",
                    check=False)
        return {host: float(end) for host, end in rows if end}

    def signal(self, p, sig, what):
        if what == "silent":
            self.proxies[p.spec.name].silence()
        elif what == "mend":
            self.proxies[p.spec.name].mend()
        else:
            p.popen.send_signal(sig)
        now = time.time()
        p.faults.append((what, now))
        if what == "kill":
            p.killed = True
        if what in ("stop", "silent"):
            p.stopped_at = time.monotonic()
        if what in ("cont", "mend"):
            p.continued_at = time.monotonic()
            p.woke_at = now

    def wait_for(self, procs, event, limit_s):
        end = time.monotonic() + limit_s
        while time.monotonic() < end:
            missing = []
            for p in procs:
                p.read_events()
                p.poll_exit()
                if not p.named(event):
                    missing.append(p)
            if not missing:
                return []
            if all(p.code is not None for p in missing):
                return missing
            time.sleep(0.05)
        return [p for p in procs if not p.named(event)]

    def run(self):
        r = self.rnd
        lease_s, interval_s = r.lease_ms / 1000, r.interval_ms / 1000
        shutil.rmtree(self.workdir, ignore_errors=True)
        os.makedirs(self.workdir)
        dirs = write_images(r, self.workdir)
        psql(self.servers.url, f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)")
        psql(self.servers.url, f"CREATE DATABASE {self.db}")
        psql(self.url, "CREATE SCHEMA chaos; CREATE TABLE chaos.applied (version int, kind text, "
                       "pid int DEFAULT pg_backend_pid(), at timestamptz DEFAULT clock_timestamp())")
        out = os.path.join(self.workdir, "out")
        os.makedirs(out)
        specs = r.procs
        host, _, port = self.servers.url.split("@")[1].split("/")[0].rpartition(":")
        for s in specs:
            if s.fate == "silent":
                self.proxies[s.name] = SilentProxy(host, port)
        self.procs = [MixedProc(s, self.argv(s, dirs), os.path.join(out, f"{s.name}.jsonl")) for s in specs]
        old = [p for p in self.procs if p.spec.image == "old"]
        new = [p for p in self.procs if p.spec.image == "new"]
        try:
            return self._run(old, new, dirs, lease_s, interval_s)
        finally:
            for p in self.procs:
                if p.popen is not None and p.popen.poll() is None:
                    p.popen.send_signal(signal.SIGCONT)
                    p.popen.send_signal(signal.SIGKILL)
                    p.popen.wait()
            for proxy in self.proxies.values():
                proxy.close()

    def start(self, procs, failure):
        """Releases `procs` together; False (and a violation) unless each registers within 30 s."""
        spawn(procs)()
        late = self.wait_for(procs, "replica_registered", 30)
        if late:
            self.v.append(failure.format(", ".join(p.spec.name for p in late)) + f": {self._tail(late[0])}")
        return not late

    def _run(self, old, new, dirs, lease_s, interval_s):
        r = self.rnd
        # The old image is live and registered; then the new image rolls
        # out, all at once: the gate does not wait for the contract.
        if not self.start(old, "old replica(s) {} never registered"):
            return
        released = time.monotonic()
        if not self.start(new, "new replica(s) {} did not start within 30 s (the gate must not wait for a "
                               "contract)"):
            return
        t0 = time.monotonic()
        self.notes.append(f"new image up in {t0 - released:.1f}s")

        # The faults, each at its moment.
        plan = sorted((p.spec.at_s, p) for p in self.procs if p.spec.fate not in ("live", "holdout"))
        pause = lease_s + 2 * interval_s + 1.0
        # A silent replica stays cut off until it must have noticed (a beat
        # fails within its budget) and its lease has run out.
        silent_pause = max(pause, notice_bound_s(r))
        while plan or any(p.stopped_at is not None and p.continued_at is None for p in old):
            now = time.monotonic()
            while plan and now >= t0 + plan[0][0]:
                _, p = plan.pop(0)
                if p.poll_exit():
                    self.v.append(f"{p.spec.name} had exited ({p.code}) before its fault: {self._tail(p)}")
                    continue
                sig = {"kill": signal.SIGKILL, "term": signal.SIGTERM, "stop": signal.SIGSTOP,
                       "silent": None}[p.spec.fate]
                self.signal(p, sig, p.spec.fate)
            for p in old:
                if p.stopped_at is not None and p.continued_at is None:
                    if p.spec.fate == "silent" and now >= p.stopped_at + silent_pause:
                        self.signal(p, None, "mend")
                    elif p.spec.fate == "stop" and now >= p.stopped_at + pause:
                        self.signal(p, signal.SIGCONT, "cont")
            for p in self.procs:
                p.read_events()
                p.poll_exit()
            time.sleep(0.02)
        # When the way was last known clear of the old image's faulted replicas.
        cleared = max((p.faults[0][1] for p in old if p.faults), default=time.time())

        # An old replica woken after the contract stops by itself at its next beat.
        woken = [p for p in old if p.woke_at is not None]
        if self.contract_row()[0]:
            end = time.monotonic() + interval_s + SLACK_S
            while any(not p.poll_exit() for p in woken) and time.monotonic() < end:
                time.sleep(0.05)
        # A holdout (and a woken replica that registered again because the
        # contract had not run yet) beats on: the contract must wait a whole
        # lease and more, then run soon after a clean SIGTERM withdraws it.
        blockers = [p for p in old if p.spec.fate == "holdout" or (p in woken and not p.poll_exit())]
        bound = lease_s + interval_s + SLACK_S
        if blockers:
            watch_until = time.monotonic() + lease_s + 2 * interval_s + 1.0
            while time.monotonic() < watch_until:
                time.sleep(0.1)
            ledger, _, ran_at = self.contract_row()
            beating = [p for p in blockers if ran_at is None or lease_lapsed_at(p, r, ran_at, self.lease_ends()) is None]
            if ledger and beating:
                self.v.append(f"the contract ran while old replica(s) "
                              f"{', '.join(p.spec.name for p in beating)} still beat")
            for p in blockers:
                if not p.poll_exit():
                    self.signal(p, signal.SIGTERM, "term")
            cleared = time.time()
            bound = interval_s + SLACK_S
        end = time.monotonic() + max(0.0, cleared + bound - time.time()) + 30  # past the bound: how late?
        at = None
        while time.monotonic() < end:
            ledger, _, at = self.contract_row()
            if ledger:
                break
            time.sleep(0.1)
        if at is None:
            self.v.append(f"the contract was not applied {bound + 30:.0f} s after the last old replica left")
        elif at - cleared > bound:
            self.v.append(f"the contract ran {at - cleared:.1f} s after the last old replica left "
                          f"(bound: {bound:.1f} s)")
        else:
            self.notes.append(f"contract {at - cleared:+.1f}s after the way was clear")

        # The end of the rollout: every process still running is asked to stop.
        for p in self.procs:
            if not p.poll_exit():
                p.popen.send_signal(signal.SIGTERM)
                p.faults.append(("end", time.time()))
        end = time.monotonic() + 10
        for p in self.procs:
            while not p.poll_exit() and time.monotonic() < end:
                time.sleep(0.05)
            if p.code is None:
                p.hung = True
        self.v += check_mixed(r, self.procs, *self.contract_row(), committed_at=self.contract_committed_at(),
                              lease_ends=self.lease_ends())
        self.v += self._after(dirs)

    def _after(self, dirs):
        """What the database says once everyone stopped, and a rollback image."""
        v = []
        r = self.rnd
        clean = [p for p in self.procs if not p.killed and p.code == 0]
        for p in clean:
            left, live = psql(self.url, f"SELECT count(*), count(*) FILTER (WHERE expires_at > clock_timestamp()) "
                                        f"FROM lockstep.replicas WHERE host = '{p.spec.name}'")[0]
            if left == "0":
                continue
            if live == "0" and withdrawal_failed_said(p):
                # Its withdrawal (one beat's budget) failed and it said so; the
                # row holds nothing back once its lease ran out.
                self.notes.append(f"{p.spec.name}: withdrawal failed (beat_failed), row expired")
                continue
            v.append(f"{p.spec.name} stopped cleanly (exit 0) but left {left} registry row(s)")
        rollback = subprocess.run([self.cli, "migrate", "--dir", dirs["old"], "--url", self.url,
                                   "--deploy-version", f"mixed-{r.seed}-rollback"],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
        if rollback.returncode != EXIT_CONTRACTED or "schema_contracted" not in rollback.stdout:
            v.append(f"an old image booted after the contract exited {rollback.returncode}, not "
                     f"{EXIT_CONTRACTED} (schema_contracted): {rollback.stdout[-300:]}")
        again = subprocess.run([self.cli, "migrate", "--dir", dirs["new"], "--url", self.url],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
        if again.returncode != 0 or '"applied":0' not in again.stdout:
            v.append(f"a new image booted afterwards was not a no-op: exit {again.returncode}: "
                     f"{again.stdout[-300:]}")
        versions = sorted(int(x[0]) for x in psql(self.url, "SELECT version FROM lockstep.migrations"))
        if versions != list(range(1, r.new_knows + 1)):
            v.append(f"the ledger has {versions}, not 1..{r.new_knows}")
        return v

    @staticmethod
    def _tail(p):
        try:
            with open(p.out_path) as f:
                return f.read()[-300:].replace("\n", " | ")
        except OSError:
            return "(no output)"


def withdrawal_failed_said(p):
    """True if p's last event, after its SIGTERM, is a failed beat: the
    withdrawal that follows the beat loop failed and p said so."""
    stops = [t for w, t in p.faults if w in ("term", "end")]
    last = [e for e in p.events if "ts" in e][-1:]
    return bool(stops and last and last[0].get("event") == "beat_failed" and _ts(last[0]) >= stops[0])


def beat_budget_s(rnd):
    """How long one beat may take (docs/expand-contract.md, "Beats are spread")."""
    interval_s, lease_s = rnd.interval_ms / 1000, rnd.lease_ms / 1000
    return max(interval_s, min(lease_s - 1.1 * interval_s, 10.0))


def notice_bound_s(rnd):
    """By when, after its connections went silent, a replica must have said
    that its beats fail: the next beat is due within 1.1 intervals and gives
    up after its budget; plus scheduling slack."""
    return 1.1 * rnd.interval_ms / 1000 + beat_budget_s(rnd) + NOTICE_SLACK_S


def _says_unregistered(e):
    """An event by which a replica tells that its lease is not being renewed:
    a failed beat's error (today's CLI), or a beat or lease event of its own
    that says so (issue #31, case 11 gives beats their own events)."""
    name = str(e.get("event", ""))
    return (name == "error" or e.get("registered") is False or
            ("beat" in name or "lease" in name or "replica" in name) and
            any(w in name for w in ("fail", "lapse", "lost", "unregister", "expired")))


_RENEWED = ("beat", "replica_registered", "replica_reregistered", "beat_recovered")


def lease_lapsed_at(p, rnd, at, lease_ends=None):
    """When an old replica's lease ran out by its own record, if it did
    before `at`: every beat after its last renewal failed, and it said so
    (beat_failed), so it was not beating on schedule and its lease may lapse
    (docs/promises.md, promise 8; docs/expand-contract.md, "A lapsed lease").
    The end of that renewal + the lease: the server stamps the lease before
    the beat returns. None while its beats succeed, or when a renewal ended
    within a beat's budget after `at` (it may have stamped a lease before
    `at`): then it counts as before. Soak of 2026-12-07 (load 11-23):
    mixed:32012, 32023 and edge:33001, 33016, 33019 ran the contract after
    every old lease had lapsed this way, as the registry's own expires_at
    confirmed; in a re-run of edge:33018 an untouched holdout's beats failed
    for 1.8 s (connecting, then renewals queued behind the contract's lock on
    the registry) and it was refused (exit 15) at its next registration."""
    # The server's own record first: an old replica's row keeps the last
    # lease the server stamped for it once the contract ran (a renewal
    # extends only a live lease, a registration is refused), unless it
    # withdrew; a row that expired before `at` settles it.
    end = (lease_ends or {}).get(p.spec.name)
    if end is not None and end <= at:
        return end
    lease_s = rnd.lease_ms / 1000
    timed = [(e, _ts(e)) for e in p.events if "ts" in e]
    renewed = [t for e, t in timed if e.get("event") in _RENEWED and t <= at]
    if not renewed:
        return None
    last = renewed[-1]
    if any(e.get("event") in _RENEWED and at < t <= at + beat_budget_s(rnd) for e, t in timed):
        return None
    failed = [(e, t) for e, t in timed if e.get("event") == "beat_failed" and last < t <= at]
    if not failed:
        return None
    # A beat that failed after sending its statement may still have stamped
    # a lease (the client gave up, the server committed): a renewal extends
    # only a lease that was live when it ran, a registration stamps one
    # unless it was refused. Counted as stamped at the end of that beat.
    lapsed = last + lease_s
    for e, t in failed:
        phase = str(e.get("while", ""))
        if phase.startswith("connecting") or e.get("class") == "schema_contracted":
            continue
        if phase.startswith("registering") or t - beat_budget_s(rnd) < lapsed:
            lapsed = max(lapsed, t + lease_s)
    return lapsed if lapsed <= at else None


def could_not_learn(p, since, until):
    """True if every beat of p from `since` (its waking) to `until` (its
    SIGTERM) failed and it said so: a replica that cannot reach the registry
    cannot be told of the contract (schema_contracted comes from a beat)."""
    timed = [(e, _ts(e)) for e in p.events if "ts" in e and since <= _ts(e) <= until]
    return (not any(e.get("event") in _RENEWED for e, _ in timed)
            and any(e.get("event") == "beat_failed" for e, _ in timed))


def check_mixed(rnd, procs, ledger_rows, body_runs, contract_at, committed_at=None, lease_ends=None):
    """The invariants that need only the harness's record of each process and
    the contract's rows; pure, so the self-test can feed it planted breaks.
    `contract_at`: wall time its body ran (None: never); `committed_at`: when
    its ledger row was written; `lease_ends`: host -> the expiry of its
    registry row's lease (wall time), read once everyone stopped."""
    v = []
    lease_s, interval_s = rnd.lease_ms / 1000, rnd.interval_ms / 1000
    if ledger_rows > 1:
        v.append(f"the contract is recorded {ledger_rows} times")
    if not rnd.notx_contract and body_runs > 1:
        v.append(f"the transactional contract's body committed {body_runs} times")
    if ledger_rows and body_runs == 0:
        v.append("the contract is recorded but its body never ran")
    for p in procs:
        name = p.spec.name
        if p.hung:
            v.append(f"{name} did not exit within 10 s of SIGTERM")
            continue
        woke = p.woke_at
        refused = p.code == EXIT_CONTRACTED
        if p.spec.image == "old" and contract_at is not None and p.faults:
            what, at = p.faults[0]
            # Until its first fault it beat. A kill or a freeze leaves the last
            # lease running: at least lease - 1.1 intervals more (the beats'
            # jitter; 0.3 s for the beat's own round trip). A SIGTERM
            # withdraws at once.
            cleared = at + lease_s - 1.1 * interval_s - 0.3 if what in ("kill", "stop", "silent") else at
            if contract_at < cleared and lease_lapsed_at(p, rnd, contract_at, lease_ends) is None:
                v.append(f"the contract ran {cleared - contract_at:.2f} s before old replica {name} could have "
                         f"stopped counting ({what} at {at:.2f}, contract at {contract_at:.2f})")
            if woke is not None and contract_at < woke:
                # Woken into a contracted schema: refused at its next beat,
                # never registered again.
                # A no-transaction contract checks the registry once, before its
                # first statement: an old replica that registers while it runs is
                # refused at its next beat (docs/expand-contract.md, "Limits").
                since = max(woke, committed_at or 0.0) if rnd.notx_contract else woke
                again = [e for e in p.events if e.get("event") == "replica_reregistered"
                         and "ts" in e and _ts(e) >= since]
                if again:
                    v.append(f"old replica {name} registered again after the contract it lacks")
                stopped = [t for w, t in p.faults if w in ("term", "end") and t > woke]
                if not refused and not (p.code == 0 and stopped and could_not_learn(p, woke, stopped[0])):
                    v.append(f"old replica {name}, woken after the contract, exited {p.code}, "
                             f"not {EXIT_CONTRACTED} (schema_contracted)")
            elif woke is not None and not refused:
                # Woken before the contract: it beats again until SIGTERM.
                ended = [t for w, t in p.faults if w in ("term", "end") and t > woke]
                if ended and contract_at < ended[0]:
                    v.append(f"the contract ran while old replica {name} beat again after waking")
        if p.spec.image == "old" and p.faults and p.faults[0][0] == "silent":
            # Cut off from the database, it must notice by itself, before its
            # lease is past: a failed beat said so, or it exited non-zero.
            at = p.faults[0][1]
            by = at + notice_bound_s(rnd)
            said = [e for e in p.events if _says_unregistered(e) and "ts" in e and at <= _ts(e) <= by]
            exited = p.exited_at is not None and p.exited_at <= by and p.code not in (None, 0)
            if not said and not exited:
                v.append(f"old replica {name} was cut off from the database at {at:.2f} and did not say so "
                         f"within {by - at:.1f} s (no failed-beat event, still running): it went on as if "
                         f"registered past its lease")
        if p.spec.image == "old" and refused and not [f for f in p.faults if f[0] != "end"]:
            # Refused although nothing was done to it: its lease lapsed under it
            # while it was live and beating, and the contract ran (issue #31,
            # case 6); unless its beats had failed for longer than its lease.
            if contract_at is not None and lease_lapsed_at(p, rnd, contract_at, lease_ends) is not None:
                continue
            v.append(f"old replica {name} was live and untouched, yet the contract ran under it: it exited "
                     f"{EXIT_CONTRACTED} (schema_contracted) at a beat; beat {rnd.interval_ms} ms, lease "
                     f"{rnd.lease_ms} ms: {_tail_of(p)}")
            continue
        expected = 0 if not (p.spec.image == "old" and woke is not None and refused) else EXIT_CONTRACTED
        if not p.killed and p.code is not None and p.code != expected:
            v.append(f"{name} exited {p.code}, not {expected}: {_tail_of(p)}")
    return v


def _tail_of(p):
    errors = [e for e in p.events if e.get("event") == "error"]
    return f"{errors[-1].get('class')}: {errors[-1].get('message', '')[:200]}" if errors else "no error event"


def run_mixed_round(rnd, servers, cli, workdir):
    runner = MixedRunner(rnd, servers, cli, workdir)
    t0 = time.monotonic()
    runner.run()
    codes = {}
    for p in runner.procs:
        key = "killed" if p.killed else ("hung" if p.hung else str(p.code))
        codes[key] = codes.get(key, 0) + 1
    fired = [(what, p.spec.name) for p in runner.procs for what, _ in p.faults if what not in ("end",)]
    result = {
        "seed": rnd.seed,
        "kind": "mixed",
        "edge": rnd.edge,
        "describe": rnd.describe(),
        "faults_fired": [(f"{what}_{name.rstrip('0123456789')}", name) for what, name in fired],
        "faults_missed": [],
        "exit_codes": codes,
        "herd_s": round(time.monotonic() - t0, 2),
        "notes": runner.notes,
        "violations": runner.v,
    }
    if not runner.v:
        psql(servers.url, f"DROP DATABASE IF EXISTS {runner.db} WITH (FORCE)")
        shutil.rmtree(workdir, ignore_errors=True)
    return result
