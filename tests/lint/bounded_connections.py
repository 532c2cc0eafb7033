#!/usr/bin/env python3
"""Every thread and every connection lockstep starts is bounded by the deadline.

A header under include/lockstep/ may start a thread, open a connection or
resolve a name only where this file allows it, and each allowance says why
that place is bounded. Everything else goes through them: a connection is
opened by ConnectAttempt (its own thread, waited for no longer than the
deadline), and a query in flight runs under a Watchdog (which shuts the
socket at the deadline). A new feature that opens a side connection or a
thread of its own fails here until it uses those, or argues its case below
(issue #31: the progress monitor's side connection held a process 40 s
past --timeout; a SQLSTATE probe resolved a name on the caller's thread).

Comments are ignored; an allowance that no longer matches anything fails
too, so the list stays the truth. Usage: bounded_connections.py INCLUDE_DIR
"""
import pathlib
import re
import sys

# What starts a thread, opens a connection or looks a name up.
PATTERNS = {
    "thread": re.compile(r"\bstd::(j?thread)\b(?!::)|\bstd::async\b|\bpthread_create\b"),
    "Connection::open": re.compile(r"\bConnection::open\s*\("),
    "pqxx::connection": re.compile(r"\bpqxx::(connection|lazyconnection|asyncconnection)\b"),
    "libpq connect": re.compile(r"\bPQ(connectdb|connectdbParams|connectStart|connectStartParams|setdbLogin|"
                                r"setdb|ping|pingParams|cancel|getCancel|cancelCreate|cancelBlocking|"
                                r"cancelStart)\b"),
    "connect_failure_sqlstate": re.compile(r"\bconnect_failure_sqlstate\s*\("),
    "name lookup": re.compile(r"\b(getaddrinfo|gethostbyname|gethostbyname_r|getnameinfo|res_query)\s*\("),
}

# (file under include/lockstep/, pattern) -> why it is bounded.
ALLOWED = {
    ("detail/base/connect_attempt.hpp", "thread"):
        "THE bounded connect: the attempt runs on its own thread and the caller waits no longer than the deadline",
    ("detail/base/connect_attempt.hpp", "Connection::open"):
        "THE bounded connect: on the attempt's own thread",
    ("detail/base/connect_attempt.hpp", "connect_failure_sqlstate"):
        "the refusal's SQLSTATE probe (it resolves the name again) runs on the attempt's thread, inside its bound",
    ("detail/base/pqxx_adapter.hpp", "pqxx::connection"):
        "defines Connection::open, which only the allowed places call",
    ("detail/base/libpq_adapter.hpp", "connect_failure_sqlstate"):
        "its definition",
    ("detail/base/libpq_adapter.hpp", "libpq connect"):
        "defines connect_failure_sqlstate (non-blocking connect, budgeted), which only ConnectAttempt calls, and "
        "libpq_admin_command (non-blocking connect and command, budgeted), which only admin_command_bounded calls",
    ("detail/run/pooler_reconnect.hpp", "thread"):
        "admin_command_bounded: RECONNECT on a PgBouncer admin console runs on its own thread (PQconnectStart "
        "resolves the name synchronously), waited for no longer than what is left of the deadline; the exchange "
        "itself polls against the same budget, so the thread ends by itself",
    ("stale_plan.hpp", "pqxx::connection"):
        "names the application's own libpqxx connection, which the stale-plan helper uses and never opens",
    ("detail/base/watchdog.hpp", "thread"):
        "the watchdog is what bounds a query in flight; disarm() waits for it at most confirm_wait",
    ("detail/base/watchdog.hpp", "Connection::open"):
        "the reaper's pg_terminate_backend after the deadline, on the watchdog's own thread, which nobody waits "
        "for longer than confirm_wait (300 ms); 2 s connect_timeout",
    ("detail/run/progress_monitor.hpp", "thread"):
        "the progress monitor: its connection is a ConnectAttempt, its queries run under a Watchdog, and its "
        "destructor waits for it no longer than the deadline",
    ("heartbeat.hpp", "thread"):
        "the heartbeat between runs: each beat is a registry session with its own deadline (a ConnectAttempt "
        "and a Watchdog via Connector), and stop() waits for at most one beat",
    ("background.hpp", "thread"):
        "the background runner, and its siblings with jobs_at_once > 1 (joined before run_background returns): "
        "each batch is a session with its own deadline (a ConnectAttempt and a Watchdog via Connector, "
        "detail/background/runner.hpp), a long statement's ends at its bound or at once on stop(), and stop() "
        "waits for at most one batch",
}

COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
STRING = re.compile(r'"(?:\\.|[^"\\\n])*"')


def code_of(text):
    # Comments go; string literals are kept as empty quotes (an error message
    # may name a function) but line numbers stay.
    text = COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    return STRING.sub('""', text)


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "include/lockstep")
    if not root.is_dir():
        print(f"no such directory: {root}")
        return 2
    failures, used = [], set()
    for path in sorted(root.rglob("*.hpp")):
        rel = path.relative_to(root).as_posix()
        for lineno, line in enumerate(code_of(path.read_text(encoding="utf-8")).splitlines(), 1):
            for what, pattern in PATTERNS.items():
                if not pattern.search(line):
                    continue
                if (rel, what) in ALLOWED:
                    used.add((rel, what))
                    continue
                failures.append(f"include/lockstep/{rel}:{lineno}: {what}: {line.strip()}")
    for key in sorted(set(ALLOWED) - used):
        failures.append(f"stale allowance (nothing matches any more; remove it): {key[0]}: {key[1]}")
    if failures:
        print("Threads, connections and name lookups outside the bounded mechanisms "
              "(detail/base/connect_attempt.hpp to connect, detail/base/watchdog.hpp to bound a query;"
              " see tests/lint/bounded_connections.py):")
        for f in failures:
            print("  " + f)
        return 1
    print(f"ok: {len(used)} allowed uses, nothing else starts a thread, connects or resolves a name")
    return 0


if __name__ == "__main__":
    sys.exit(main())
