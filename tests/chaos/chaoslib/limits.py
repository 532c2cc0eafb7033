"""The edges of what `lockstep replica` accepts, asked of the program itself
at run time: the shortest heartbeat interval and, for an interval, the
shortest lease. A number written here would go stale the day the CLI's
rule changes (issue #31, case 6: the lease must cover the beats' jitter and
a beat's own bound), so the harness finds them the way a user would, by
trying: a replica with the values either registers (accepted; it is then
stopped) or exits with an error before it does (refused)."""

import os
import shutil
import signal
import subprocess
import tempfile
import time

from .servers import psql, url_for

# Intervals tried, shortest first. The shortest one the CLI accepts is used,
# but never below FLOOR_MS: a replica beating every millisecond would turn a
# round into a connection storm that tests the machine, not lockstep (the
# probe still reports what the CLI accepted).
INTERVALS_MS = [1, 10, 50, 100, 200]
# A refusal of the values: a usage error (2, when the arguments are parsed)
# or a settings error (3, invalid_argument) (examples/cli/exit_codes.hpp).
REFUSED = (2, 3)
# 200 ms, not the CLI's 100 ms floor: at the shortest lease a beat has about
# one interval to connect, and on CI's 2 cores, busy with other tests, a
# connection can take longer than 100 ms (replicas then never register).
FLOOR_MS = 200


class Limits:
    def __init__(self, cli, servers, workdir):
        self.cli = cli
        self.servers = servers
        self.workdir = workdir
        self.db = "chaos_limits"
        self._lease = {}
        self._interval = None
        self.accepted_interval_ms = None   # what the CLI accepted, before the floor
        self.refusal = ""                  # the last refusal message seen

    def _setup(self):
        if os.path.isdir(os.path.join(self.workdir, "m")):
            return
        shutil.rmtree(self.workdir, ignore_errors=True)
        os.makedirs(os.path.join(self.workdir, "m"))
        with open(os.path.join(self.workdir, "m", "0001_probe.sql"), "w") as f:
            f.write("CREATE TABLE probe (id int);\n")
        psql(self.servers.url, f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)")
        psql(self.servers.url, f"CREATE DATABASE {self.db}")

    def accepts(self, interval_ms, lease_ms):
        """True if a replica with these values registers; False if the CLI
        refuses them (exit 2 or 3: a usage or settings error). Any other
        failure is tried once more, then raised: a busy server must not be
        read as a refusal."""
        for attempt in (1, 2):
            verdict, code, text = self._probe(interval_ms, lease_ms)
            if verdict is not None:
                return verdict
            if attempt == 2:
                raise RuntimeError(f"probe: lockstep replica --heartbeat {interval_ms}ms --lease {lease_ms}ms "
                                   f"neither registered nor refused the values (exit {code}): {text[-300:]}")

    def _probe(self, interval_ms, lease_ms):
        self._setup()
        out = tempfile.TemporaryFile()
        p = subprocess.Popen([self.cli, "replica", "--dir", os.path.join(self.workdir, "m"),
                              "--url", url_for(self.servers.url, self.db), "--timeout", "20s",
                              "--heartbeat", f"{interval_ms}ms", "--lease", f"{lease_ms}ms", "--host", "probe"],
                             stdout=out, stderr=subprocess.STDOUT)
        end = time.monotonic() + 30
        accepted = None
        while time.monotonic() < end:
            code = p.poll()
            out.seek(0)
            text = out.read().decode("utf-8", "replace")
            if "replica_registered" in text:
                accepted = True
                break
            if code is not None:
                if code in REFUSED:
                    accepted = False
                    self.refusal = text.strip().splitlines()[-1] if text.strip() else f"exit {code}"
                break
            time.sleep(0.02)
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
        out.close()
        return accepted, p.returncode, text

    def interval_ms(self):
        """The shortest interval accepted with a generous lease, floored."""
        if self._interval is None:
            for i in INTERVALS_MS:
                if self.accepts(i, max(30000, 100 * i)):
                    self.accepted_interval_ms = i
                    break
            else:
                raise RuntimeError(f"probe: no heartbeat interval in {INTERVALS_MS} accepted: {self.refusal}")
            self._interval = max(self.accepted_interval_ms, FLOOR_MS)
        return self._interval

    def lease_ms(self, interval_ms):
        """The shortest lease accepted for `interval_ms` (binary search, 1 ms)."""
        if interval_ms not in self._lease:
            # Doubling from the interval up, then halving: about a dozen probes.
            lo, hi = 0, interval_ms
            while not self.accepts(interval_ms, hi):
                lo, hi = hi, hi * 2
                if hi > max(60000, 100 * interval_ms):
                    raise RuntimeError(f"probe: no lease up to {hi} ms accepted with a {interval_ms} ms beat: "
                                       f"{self.refusal}")
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if self.accepts(interval_ms, mid):
                    hi = mid
                else:
                    lo = mid
            self._lease[interval_ms] = hi
        return self._lease[interval_ms]

    def close(self):
        psql(self.servers.url, f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)", check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)
