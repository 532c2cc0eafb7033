"""A round, drawn from its seed alone: the migration set, the herd and the
faults. The same seed always gives the same round (the timing of the real
processes is the only thing a seed does not fix)."""

import random
from dataclasses import dataclass

# Faults and how often a round draws each (as its main fault).
FAULTS = {
    "none": 1,
    "kill_leader": 3,
    "kill_follower": 2,
    "stop_leader": 3,
    "netcut_leader": 2,
    "pg_restart": 2,
    "pg_crash": 1,
    "terminate_leader": 3,
    "pgbouncer_session": 1,
    "pgbouncer_transaction": 1,
}
# Faults that can come on top of the main one.
EXTRA_FAULTS = ["kill_follower", "kill_leader", "terminate_leader"]

# Edge rounds (`edge:N`, docs/reliability.md): every process runs with
# `--progress-interval 1s` (the shortest interval the monitor is meant for),
# the trigger migration runs a long statement, and the main fault is most
# often a leader whose connections go silent while its progress monitor's
# side connection is open (issue #31, case 1).
EDGE_FAULTS = {
    "silent_leader": 4,
    "netcut_leader": 1,
    "kill_leader": 1,
    "stop_leader": 1,
    "terminate_leader": 1,
    "none": 1,
}
# The slow statement of an edge round's trigger migration: the first run
# sleeps long (past the silenced leader's deadline, as in case 1), the runs
# after it (the followers' takeover) only briefly, so a round does not pay
# for it twice. A sequence counts the runs: nextval() is not rolled back
# with the migration.
EDGE_RERUN_S = 1.5

# Generous: every healthy process must finish well inside it. A few processes
# get a short one instead, to exercise the deadline path.
PATIENT_TIMEOUT_S = 60


@dataclass
class MigrationSpec:
    version: int
    transactional: bool
    sleep_s: float
    planned_failure: bool
    slow_first: float = 0.0    # edge rounds: the first run sleeps this long, later ones EDGE_RERUN_S
    slow_index: bool = False   # edge rounds: a CREATE INDEX CONCURRENTLY that takes seconds

    @property
    def filename(self):
        return f"{self.version:04d}_m{self.version}.sql"

    def sql(self):
        v = self.version
        fail = (f"DO $$ BEGIN IF EXISTS (SELECT 1 FROM chaos.ctl WHERE version = {v}) THEN "
                f"RAISE EXCEPTION 'chaos: planned failure of %', {v}; END IF; END $$;\n")
        sleep = f"SELECT pg_sleep({self.sleep_s:.2f});\n" if self.sleep_s > 0 else ""
        if self.slow_first:
            sleep = (f"SELECT pg_sleep(CASE WHEN nextval('chaos.slow_runs') = 1 THEN {self.slow_first:.1f} "
                     f"ELSE {EDGE_RERUN_S} END);\n")
        # A concurrent build over rows whose indexed expression sleeps 1 ms
        # each: seconds of real index build (pg_stat_progress_create_index)
        # that cost the machine nothing.
        slow_index = (f"INSERT INTO public.m_{v} SELECT g, 'row ' || g FROM generate_series(1, 2000) g "
                      f"ON CONFLICT DO NOTHING;\n"
                      f"DROP INDEX CONCURRENTLY IF EXISTS public.m_{v}_slow;\n"
                      f"CREATE INDEX CONCURRENTLY m_{v}_slow ON public.m_{v} (chaos.slow_id(id));\n"
                      if self.slow_index else "")
        if self.transactional:
            return (f"-- chaos migration {v}: transactional\n"
                    f"CREATE TABLE public.m_{v} (id int PRIMARY KEY, note text);\n"
                    f"INSERT INTO public.m_{v} SELECT g, 'row ' || g FROM generate_series(1, 200) g;\n"
                    f"CREATE INDEX m_{v}_note ON public.m_{v} (note);\n"
                    + sleep + (fail if self.planned_failure else "") +
                    f"INSERT INTO chaos.applied (version, kind) VALUES ({v}, 'tx');\n")
        # Idempotent, statement by statement: an interrupted CREATE INDEX
        # CONCURRENTLY leaves an invalid index, so it is dropped and rebuilt.
        return (f"-- lockstep:no-transaction\n-- chaos migration {v}: no transaction\n"
                f"CREATE TABLE IF NOT EXISTS public.m_{v} (id int PRIMARY KEY, note text);\n"
                f"INSERT INTO chaos.applied (version, kind) VALUES ({v}, 'notx-start');\n"
                + sleep + (fail if self.planned_failure else "") +
                f"DROP INDEX CONCURRENTLY IF EXISTS public.m_{v}_note;\n"
                f"CREATE INDEX CONCURRENTLY m_{v}_note ON public.m_{v} (note);\n" + slow_index)


@dataclass
class ProcSpec:
    index: int
    lock: str            # try | blocking | transaction
    mode: str            # true | false
    timeout_s: float
    route: str           # direct | veth | bouncer | proxy (a SilentProxy of its own)
    wait: str = "notify"  # notify | poll

    @property
    def patient(self):
        return self.timeout_s >= PATIENT_TIMEOUT_S


@dataclass
class Round:
    seed: int
    faults: list
    migrations: list
    procs: list
    stall_s: int
    on_partial: str
    trigger_version: int     # a leader fault strikes once this version has started
    delay_s: float           # ... this long after it started
    pause_s: float           # stop_leader: SIGSTOP for this long
    follower_kill_at_s: float
    edge: bool = False       # an edge round: --progress-interval 1s, a long statement

    @property
    def planned_failure(self):
        return any(m.planned_failure for m in self.migrations)

    @property
    def through_bouncer(self):
        return self.faults[0].startswith("pgbouncer")

    def describe(self):
        kinds = "".join("t" if m.transactional else "n" for m in self.migrations)
        fails = [m.version for m in self.migrations if m.planned_failure]
        locks = sorted({p.lock for p in self.procs})
        waits = sorted({p.wait for p in self.procs})
        return (f"seed={self.seed}{' edge progress=1s' if self.edge else ''} faults={'+'.join(self.faults)}"
                f" migrations={len(self.migrations)}[{kinds}]"
                f" fail={fails or '-'} procs={len(self.procs)} locks={','.join(locks)} waits={','.join(waits)}"
                f" stall={self.stall_s}s partial={self.on_partial}")


def draw(seed, max_procs=64, netns=True, edge=False):
    rng = random.Random(seed)
    table = EDGE_FAULTS if edge else FAULTS
    kinds = [k for k in table if netns or k != "netcut_leader"]
    main = rng.choices(kinds, weights=[table[k] for k in kinds])[0]
    faults = [main]
    if not main.startswith("pgbouncer") and rng.random() < 0.25:
        extra = rng.choice([f for f in EXTRA_FAULTS if f != main])
        faults.append(extra)

    n = rng.randint(2, 9)
    transaction_only = main == "pgbouncer_transaction"
    migrations = []
    for v in range(1, n + 1):
        tx = transaction_only or rng.random() < 0.75
        sleep = rng.choice([0, 0, 0, 0.2, 0.5, 1.0])
        migrations.append(MigrationSpec(v, tx, sleep, False))
    # Leader faults need a leader still at work when they strike.
    trigger = rng.randint(1, n)
    if main in ("stop_leader", "netcut_leader", "pg_restart", "pg_crash", "terminate_leader", "kill_leader"):
        migrations[trigger - 1].sleep_s = max(migrations[trigger - 1].sleep_s, 1.5)
    if rng.random() < 0.2:
        # Edge rounds: never before the slow statement, which is their point.
        rng.choice(migrations[trigger - 1:] if edge else migrations).planned_failure = True
    if edge:
        # The long statement runs where the leader fault strikes; a
        # no-transaction migration may build a slow index as well.
        migrations[trigger - 1].slow_first = 6.0
        for m in migrations:
            if not m.transactional and rng.random() < 0.5:
                m.slow_index = True

    size = rng.choices([2, 3, 4, 6, 8, 12, 16, 32, 64], weights=[4, 4, 4, 3, 3, 2, 2, 1, 1])[0]
    size = min(size, max_procs)
    if edge:  # progress monitors and long statements: a smaller herd keeps the round short
        size = min(size, 12)
    has_notx = any(not m.transactional for m in migrations)
    procs = []
    for i in range(size):
        if main == "pgbouncer_transaction":
            lock, route = "transaction", "bouncer"
        elif main == "pgbouncer_session":
            lock, route = rng.choice(["try", "blocking"]), "bouncer"
        else:
            choices = ["try", "try", "blocking"] + ([] if has_notx else ["transaction"])
            lock, route = rng.choice(choices), "direct"
        # Most replicas migrate; a few only wait (MIGRATE_ON_BOOT=false).
        mode = "false" if (i > 0 and rng.random() < 0.1) else "true"
        wait = rng.choice(["notify", "notify", "poll"])
        timeout = PATIENT_TIMEOUT_S if rng.random() < 0.85 else rng.choice([2, 4, 8])
        procs.append(ProcSpec(i, lock, mode, timeout, route, wait))
    if main in ("netcut_leader", "silent_leader"):
        procs[0].route, procs[0].lock, procs[0].mode, procs[0].timeout_s = "veth", "try", "true", 20
        if main == "silent_leader":
            # Its deadline strikes while its connections are silent (the
            # slow statement outlasts it): it must exit by then + 5 s.
            procs[0].route, procs[0].timeout_s = "proxy", rng.choice([4, 6, 8, 12])
            migrations[trigger - 1].slow_first = procs[0].timeout_s + 6.0
            # It must reach the slow statement before its short deadline.
            for m in migrations[:trigger - 1]:
                m.sleep_s, m.slow_index = 0, False
        # The leader starts first, alone; its takeover needs a patient follower.
        if len(procs) == 1:
            procs.append(ProcSpec(1, "try", "true", PATIENT_TIMEOUT_S, "direct", "notify"))
        procs[1].timeout_s, procs[1].mode = PATIENT_TIMEOUT_S, "true"
    if any(m.planned_failure for m in migrations):
        for p in procs:  # nobody will ever reach the version: waiting-only replicas would sit out 60 s
            p.mode = "true"
    if not any(p.patient and p.mode == "true" for p in procs):
        procs[-1].timeout_s, procs[-1].mode = PATIENT_TIMEOUT_S, "true"
    return Round(
        seed=seed,
        faults=faults,
        migrations=migrations,
        procs=procs,
        stall_s=rng.choice([3, 4, 6]),
        on_partial=rng.choice(["rerun", "rerun", "refuse"]),
        trigger_version=trigger,
        delay_s=rng.uniform(0.0, 0.8),
        pause_s=rng.choice([1.0, 2.0, 8.0, 12.0]),
        follower_kill_at_s=rng.uniform(0.0, 1.5),
        edge=edge,
    )
