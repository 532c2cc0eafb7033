"""Runs one round's herd of `lockstep migrate` processes, released together,
and strikes the round's faults at the moments the processes' own events say
the leader is at work."""

import json
import os
import random
import signal
import subprocess
import time
from datetime import datetime, timezone

from .proxy import SilentProxy
from .servers import psql, url_for

# How long after its own deadline a process may take to exit: the watchdog
# cancels, closes and the process prints its error; a little scheduling slack.
EXIT_MARGIN_S = 5.0
# A process's own deadline runs from the moment its clock starts (its boot
# event: ts - elapsed_ms), not from the release: 64 processes exec'ing at once
# on a busy 2-core machine started their clocks up to 7 s after the release
# (soak of 2026-12-07, seeds 31075, 31112, 31121, 31151, 31161, 31165), so
# their deadline + 5 s, counted from the release, ended before their own
# deadline did. Until a process's boot event is seen, the release stands in,
# with this much more for starting; a process that never boots is still hung.
STARTUP_GRACE_S = 10.0


class Proc:
    def __init__(self, spec, argv, out_path):
        self.spec = spec
        self.argv = argv
        self.out_path = out_path
        self.popen = None
        self.events = []
        self._buf = ""
        self._offset = 0
        self.started = self.ended = None
        self.exited_at = None         # wall time its exit was seen
        self.code = None
        self.killed = False           # SIGKILLed by the harness
        self.stopped_at = self.continued_at = None
        self.cut_at = None
        self.hung = False
        self.clock_started = None     # monotonic moment its own deadline clock started (its boot event)

    @property
    def alive(self):
        return self.code is None

    def read_events(self):
        try:
            with open(self.out_path, "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return
        self._offset += len(chunk)
        self._buf += chunk.decode("utf-8", "replace")
        *lines, self._buf = self._buf.split("\n")
        now = time.monotonic()
        for line in lines:
            if not line.strip():
                continue
            try:
                ev = json.loads(line)
            except json.JSONDecodeError:
                ev = {"event": "unparsable", "text": line}
            ev["_seen"] = now
            if ev.get("event") == "boot" and self.clock_started is None:
                self.clock_started = clock_start(ev, now)
            self.events.append(ev)

    def poll_exit(self):
        """True once the process has exited (its code and last events read)."""
        if self.code is None and self.popen is not None:
            code = self.popen.poll()
            if code is not None:
                self.code, self.ended, self.exited_at = code, time.monotonic(), time.time()
                self.read_events()
        return self.code is not None

    def named(self, name):
        return [e for e in self.events if e.get("event") == name]

    def deadline_s(self):
        """Latest moment (monotonic) by which the process must have exited:
        its own deadline (see STARTUP_GRACE_S) plus the margin."""
        start = self.clock_started if self.clock_started is not None else self.started + STARTUP_GRACE_S
        base = max(self.started, start) + self.spec.timeout_s
        if self.continued_at is not None:
            base = max(base, self.continued_at)
        return base + EXIT_MARGIN_S


def clock_start(boot, seen, wall=None):
    """The monotonic moment a process's deadline clock started, from its boot
    event (wall-clock ts, elapsed_ms on its own clock) read at `seen`
    (monotonic), when the wall clock said `wall` (default: now)."""
    try:
        ts = datetime.strptime(boot["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()
        started = ts - float(boot["elapsed_ms"]) / 1000.0
    except (KeyError, TypeError, ValueError):
        return None
    return seen - ((time.time() if wall is None else wall) - started)


def spawn(procs):
    """Starts `procs`, each blocked reading one pipe; returns the function
    that releases them all at once (by closing the pipe's write end). The
    wait happens in a shell that then execs the program, so the pid stays."""
    r, w = os.pipe()
    for p in procs:
        out = open(p.out_path, "wb")
        # The pipe is the shell's stdin, replaced by /dev/null before the
        # exec: as a descriptor of its own its number could be 10 or more
        # once the harness holds other descriptors (a SilentProxy's
        # sockets), and dash takes one digit only ("Bad fd number": the
        # round edge:71034 of a soak never started its new replicas).
        p.popen = subprocess.Popen(["/bin/sh", "-c", 'read _; exec </dev/null; exec "$@"', "sh"] + p.argv,
                                   stdout=out, stderr=subprocess.STDOUT, stdin=r, close_fds=True)
        out.close()
    os.close(r)

    def release():
        now = time.monotonic()
        for p in procs:
            p.started = now
        os.close(w)
    return release


class Runner:
    def __init__(self, rnd, servers, cli, workdir, migrations_dir, db):
        self.rnd = rnd
        self.servers = servers
        self.cli = cli
        self.workdir = workdir
        self.migrations_dir = migrations_dir
        self.db = db
        self.rng = random.Random(rnd.seed * 7919 + 1)
        self.procs = []
        self.fired = []       # (fault, detail) actually struck
        self.missed = []      # faults whose moment never came (the work was done first)
        self.proxy = None     # the silent_leader's own SilentProxy

    def argv(self, spec):
        r = self.rnd
        url = {"direct": self.servers.url, "bouncer": self.servers.bouncer_url,
               "veth": self.servers.veth_url, "proxy": self.proxy.url("postgres") if self.proxy else None}[spec.route]
        argv = [self.cli, "migrate", "--dir", self.migrations_dir, "--url", url_for(url, self.db),
                "--timeout", f"{int(spec.timeout_s)}s", "--lock", spec.lock, "--wait", spec.wait, "--mode", spec.mode,
                "--stall-timeout", f"{r.stall_s}s", "--on-partial", r.on_partial,
                "--host", f"p{spec.index}", "--deploy-version", f"chaos-{r.seed}"]
        if r.edge:
            argv += ["--progress-interval", "1s"]
        if spec.route == "veth":
            argv = ["ip", "netns", "exec", self.servers.netns.name] + argv
        return argv

    def leader(self):
        """The live process that most recently started a migration."""
        best = None
        for p in self.procs:
            # A leader cut off or silenced is no longer the one at work: a
            # second fault strikes whoever took over, not the same process.
            if not p.alive or p.killed or p.stopped_at is not None and p.continued_at is None or \
                    p.cut_at is not None:
                continue
            started = p.named("migration_started")
            if started and (best is None or started[-1]["_seen"] > best[1]):
                best = (p, started[-1]["_seen"])
        return best[0] if best else None

    def trigger_time(self):
        """When the round's leader fault strikes: after the trigger version started.
        In edge rounds a silent_leader or netcut_leader strikes once its progress
        monitor has reported (its side connection is open), or 3 s into the
        statement at the latest."""
        main = self.rnd.faults[0]
        if self.rnd.edge and main in ("silent_leader", "netcut_leader") and not any(f == main for f, _ in self.fired):
            lead = self.procs[0]
            for e in lead.named("migration_started"):
                if e.get("version", 0) >= self.rnd.trigger_version:
                    progress = [p for p in lead.named("progress") if p["_seen"] >= e["_seen"]]
                    at = progress[0]["_seen"] if progress else e["_seen"] + 3.0
                    return at + self.rnd.delay_s / 2
            return None
        for p in self.procs:
            for e in p.named("migration_started"):
                if e.get("version", 0) >= self.rnd.trigger_version:
                    return e["_seen"] + self.rnd.delay_s
        return None

    # ---- faults ---------------------------------------------------------------

    def strike(self, fault):
        if fault == "kill_follower":
            leader = self.leader()
            victims = [p for p in self.procs if p.alive and p is not leader and not p.killed]
            if not victims:
                return False
            victim = self.rng.choice(victims)
            victim.popen.send_signal(signal.SIGKILL)
            victim.killed = True
            self.fired.append((fault, f"p{victim.spec.index}"))
            return True
        if fault in ("kill_leader", "stop_leader", "netcut_leader", "silent_leader"):
            leader = self.leader()
            if fault in ("netcut_leader", "silent_leader"):
                leader = self.procs[0] if self.procs[0].alive else None
            if leader is None:
                return False
            if fault == "kill_leader":
                leader.popen.send_signal(signal.SIGKILL)
                leader.killed = True
            elif fault == "stop_leader":
                leader.popen.send_signal(signal.SIGSTOP)
                leader.stopped_at = time.monotonic()
            elif fault == "silent_leader":
                self.proxy.silence()
                leader.cut_at = time.monotonic()
            else:
                self.servers.netns.cut()
                leader.cut_at = time.monotonic()
            self.fired.append((fault, f"p{leader.spec.index}"))
            return True
        if fault in ("pg_restart", "pg_crash"):
            self.servers.restart(crash=fault == "pg_crash")
            self.fired.append((fault, ""))
            return True
        if fault == "terminate_leader":
            rows = psql(self.servers.url,
                        "SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                        f"WHERE l.locktype = 'advisory' AND l.granted AND d.datname = '{self.db}'", check=False)
            if not rows:
                return False
            self.fired.append((fault, f"{len(rows)} backend(s)"))
            return True
        raise ValueError(fault)

    # ---- the round ----------------------------------------------------------------

    def run(self):
        if any(s.route == "proxy" for s in self.rnd.procs):
            host, _, port = self.servers.url.split("@")[1].split("/")[0].rpartition(":")
            self.proxy = SilentProxy(host, port)
        try:
            return self._run()
        finally:
            if self.proxy is not None:
                self.proxy.close()

    def _run(self):
        out_dir = os.path.join(self.workdir, "out")
        os.makedirs(out_dir, exist_ok=True)
        self.procs = [Proc(s, self.argv(s), os.path.join(out_dir, f"p{s.index}.jsonl")) for s in self.rnd.procs]
        pending = [f for f in self.rnd.faults if not f.startswith("pgbouncer") and f != "none"]
        first = self.procs[:1] if pending and pending[0] in ("netcut_leader", "silent_leader") else []
        rest = self.procs[len(first):]
        if first:
            # The leader-to-be starts alone inside the namespace and takes the lock.
            spawn(first)()
            end = time.monotonic() + 15
            while time.monotonic() < end and not first[0].named("migration_started") and first[0].popen.poll() is None:
                first[0].read_events()
                time.sleep(0.02)
        release = spawn(rest)
        release()
        t0 = time.monotonic()
        leader_faults = [f for f in pending if f != "kill_follower"]
        follower_faults = [f for f in pending if f == "kill_follower"]
        while True:
            now = time.monotonic()
            for p in self.procs:
                p.read_events()
                if not p.poll_exit() and now > p.deadline_s() and \
                        (p.stopped_at is None or p.continued_at is not None):
                    p.hung = True
                    p.popen.send_signal(signal.SIGKILL)
            for p in self.procs:
                if p.stopped_at is not None and p.continued_at is None and now >= p.stopped_at + self.rnd.pause_s:
                    p.popen.send_signal(signal.SIGCONT)
                    p.continued_at = time.monotonic()
            if follower_faults and now >= t0 + self.rnd.follower_kill_at_s:
                f = follower_faults.pop(0)
                if not self.strike(f):
                    self.missed.append(f)
            if leader_faults:
                at = self.trigger_time()
                if at is not None and now >= at:
                    f = leader_faults.pop(0)
                    if not self.strike(f):
                        self.missed.append(f)
                    # A second leader fault strikes the next leader, a moment later.
                    self.rnd.delay_s += 0.5
            if not any(p.alive for p in self.procs):
                break
            time.sleep(0.02)
        self.missed += leader_faults + follower_faults
        if self.servers.netns.ok:
            self.servers.netns.mend()
        return self.procs
