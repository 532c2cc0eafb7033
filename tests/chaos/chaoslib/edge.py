"""Edge rounds (`edge:N`, docs/reliability.md): the options at the edges of
what the CLI accepts, and silent networks (issue #31). The seed picks one
of two shapes:

- a **leader** round: a herd (chaoslib/scenario.py with edge=True) where
  every process runs `--progress-interval 1s`, the trigger migration runs a
  long statement (and no-transaction ones may build a slow index), and the
  main fault is most often `silent_leader`: the leader's connections, its
  progress monitor's side connection included, go through a proxy that goes
  silent mid-statement. It must still exit by its deadline + 5 s.
- a **rollout** round: a mixed deploy (chaoslib/mixed.py) at the shortest
  heartbeat interval and lease the CLI accepts (asked of it at run time,
  chaoslib/limits.py), with a contract whose own run lasts 1.5-3 beats, and
  at least one old replica whose connections go silent past its lease and
  then come back: the contract may run only after its lease ran out, the
  replica must say by itself that its beats fail, and, woken into a
  contracted schema, exit 15.
"""

import random

from .mixed import MixedRound, MixedSpec, draw_new_image, draw_versions
from .scenario import draw


def flavor(seed):
    return "leader" if random.Random(seed * 31 + 7).random() < 0.5 else "rollout"


def draw_edge(seed, max_procs=64, netns=True):
    if flavor(seed) == "leader":
        return draw(seed, max_procs=max_procs, netns=netns, edge=True)
    return draw_edge_mixed(seed)


def draw_edge_mixed(seed):
    """The interval is a choice fixed by the seed ("shortest" or a few beats
    a second); the numbers are the CLI's, filled in by resolve()."""
    rng = random.Random(seed)
    old_knows, contract, new_knows = draw_versions(rng)
    interval_choice = rng.choice(["shortest", "shortest", 200, 300, 500])
    procs = []
    n_old = rng.randint(1, 3)
    holdout = rng.random() < 0.25
    if holdout:
        n_old = max(n_old, 2)  # a holdout, and a silent one besides
    for i in range(n_old):
        if holdout and i == 0:
            fate = "holdout"
        elif i == (1 if holdout else 0):
            fate = "silent"
        else:
            fate = rng.choice(["silent", "kill", "term", "stop"])
        procs.append(MixedSpec(i, "old", fate, rng.uniform(0.0, 2.0)))
    notx = draw_new_image(rng, procs, most=4, kill_chance=0.3)
    rnd = MixedRound(seed, old_knows, contract, new_knows, notx, 0, 0, procs, edge=True,
                     contract_beats=rng.uniform(1.5, 3.0))
    rnd.interval_choice = interval_choice
    return rnd


def resolve(rnd, limits):
    """Fills in the interval and the shortest lease the CLI accepts for it."""
    choice = rnd.interval_choice
    rnd.interval_ms = limits.interval_ms() if choice == "shortest" else choice
    rnd.lease_ms = limits.lease_ms(rnd.interval_ms)
    return rnd
