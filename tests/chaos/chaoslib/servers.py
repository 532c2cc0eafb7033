"""The real parts a chaos run breaks: a PostgreSQL 15 cluster, a PgBouncer in
transaction pooling mode in front of it, and a network namespace whose veth
link can be cut. All are throwaway and owned by the run."""

import os
import shutil
import subprocess
import time

SUPPORT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support")


def sh(cmd, check=True, quiet=True):
    out = subprocess.run(cmd, shell=True, stdout=subprocess.PIPE if quiet else None,
                         stderr=subprocess.STDOUT if quiet else None, text=True)
    if check and out.returncode != 0:
        raise RuntimeError(f"command failed ({out.returncode}): {cmd}\n{out.stdout or ''}")
    return out


def psql(url, sql, check=True):
    """Runs `sql` and returns rows as lists of strings (unaligned, tab-separated)."""
    out = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if out.returncode != 0:
        if check:
            raise RuntimeError(f"psql failed: {sql}\n{out.stderr}")
        return None
    return [line.split("\t") for line in out.stdout.splitlines() if line != ""]


def url_for(base, database):
    head, _, tail = base.rpartition("/")
    return f"{head}/{database}"


class Netns:
    """A network namespace joined to the host by a veth pair: the leader runs
    inside, and "cutting the network" downs its end of the link, so packets are
    dropped while its sockets stay open (a lost node, not a closed socket)."""

    def __init__(self):
        pid = os.getpid()
        octet = pid % 200 + 20
        self.name = f"lschaos{pid}"
        self.host_if = f"lsch{pid % 100000}"
        self.peer_if = f"lscp{pid % 100000}"
        self.host_ip = f"10.232.{octet}.1"
        self.peer_ip = f"10.232.{octet}.2"
        self.cidr = f"10.232.{octet}.0/30"
        self.ok = False

    def create(self):
        if os.geteuid() != 0 or shutil.which("ip") is None:
            return False
        try:
            sh(f"ip netns add {self.name}")
            sh(f"ip link add {self.host_if} type veth peer name {self.peer_if}")
            sh(f"ip link set {self.peer_if} netns {self.name}")
            sh(f"ip addr add {self.host_ip}/30 dev {self.host_if}")
            sh(f"ip link set {self.host_if} up")
            sh(f"ip netns exec {self.name} ip addr add {self.peer_ip}/30 dev {self.peer_if}")
            sh(f"ip netns exec {self.name} ip link set {self.peer_if} up")
            sh(f"ip netns exec {self.name} ip link set lo up")
            self.ok = True
        except RuntimeError:
            self.destroy()
        return self.ok

    def cut(self):
        sh(f"ip netns exec {self.name} ip link set {self.peer_if} down")

    def mend(self):
        sh(f"ip netns exec {self.name} ip link set {self.peer_if} up", check=False)

    def destroy(self):
        sh(f"ip netns del {self.name}", check=False)
        sh(f"ip link del {self.host_if}", check=False)


class Servers:
    def __init__(self, state_dir, use_netns=True):
        self.state = os.path.abspath(state_dir)
        self.pg_state = os.path.join(self.state, "pg")
        self.bouncer_state = os.path.join(self.state, "pgbouncer")
        self.netns = Netns()
        self.use_netns = use_netns
        self.url = self.bouncer_url = self.veth_url = None

    def start(self):
        os.makedirs(self.state, exist_ok=True)
        env = dict(os.environ)
        env.pop("LOCKSTEP_TEST_URL", None)  # chaos restarts its server: never someone else's
        if self.use_netns and self.netns.create():
            env["LOCKSTEP_PG_EXTRA_LISTEN"] = self.netns.host_ip
            env["LOCKSTEP_PG_EXTRA_HBA"] = self.netns.cidr
        subprocess.run([os.path.join(SUPPORT, "pg_server.sh"), "start", self.pg_state], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        self.url = open(os.path.join(self.pg_state, "url")).read().strip()
        port = self.port = open(os.path.join(self.pg_state, "port")).read().strip()
        if self.netns.ok:
            self.veth_url = f"postgresql://postgres@{self.netns.host_ip}:{port}/postgres"
        subprocess.run([os.path.join(SUPPORT, "pgbouncer.sh"), "start", self.bouncer_state, self.pg_state],
                       check=True, stdout=subprocess.DEVNULL)
        self.bouncer_url = open(os.path.join(self.bouncer_state, "url")).read().strip()
        self.datadir = os.path.join(open(os.path.join(self.pg_state, "datadir")).read().strip(), "data")
        # The binaries pg_server.sh started (LOCKSTEP_PG_BINDIR, else Debian's).
        self.bindir = open(os.path.join(self.pg_state, "bindir")).read().strip()

    def stop(self):
        subprocess.run([os.path.join(SUPPORT, "pgbouncer.sh"), "stop", self.bouncer_state], check=False)
        subprocess.run([os.path.join(SUPPORT, "pg_server.sh"), "stop", self.pg_state], check=False)
        if self.netns.ok:
            self.netns.destroy()

    def _pg_ctl(self, args):
        owner = "runuser -u postgres -- " if os.geteuid() == 0 else ""
        sh(f"{owner}{self.bindir}/pg_ctl -D {self.datadir} -w -t 60 {args}")

    def restart(self, crash):
        """`pg_ctl restart -m fast`, or a crash (-m immediate) and recovery."""
        log = f"-l {os.path.dirname(self.datadir)}/server.log"
        if crash:
            self._pg_ctl("-m immediate stop")
            self._pg_ctl(f"{log} -o '-p {self.port}' start")
        else:
            self._pg_ctl(f"{log} -m fast restart")
        self.wait_ready()

    def wait_ready(self, timeout=60):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if psql(self.url, "SELECT 1", check=False):
                return
            time.sleep(0.1)
        raise RuntimeError("PostgreSQL did not come back")
