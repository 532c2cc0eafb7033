#!/usr/bin/env python3
"""Fails if a string can leave the library or the lockstep program without
passing the one redaction mechanism (detail/base/conninfo.hpp's Redactor).

usage: check_redaction.py SOURCE_DIR

What leaves, and how it is redacted (docs/operations.md, "Secrets"):
  - events: typed events (lockstep/events/types.hpp) are made only by
    detail/run/emitter.hpp, which redacts every string value of the header
    and the body (events::for_each_string walks nested ones too) before any
    sink sees the event; the JSON sink then writes what it was given (rule
    `event`, and the structural check of the Emitter below);
  - errors: every public Migrator entry point that returns a result runs
    inside detail::boundary, which scrubs every text field of the error
    (rule `boundary`); Connection::open scrubs its own (rule `connection`);
  - the program's own output: every write to stdout or stderr under
    include/lockstep/ and examples/cli/ is listed below with why what it
    prints holds no secret (rule `output`).
A new emission point fails this check until it goes through the mechanism
or is listed here with its reason. A listed one that no longer exists
fails too, so the list stays the truth.
"""
import pathlib
import re
import sys

# A write to a process stream, or a hand-built event, or a heartbeat error.
EMISSION = re.compile(
    r"(?<!struct )\bEvent\b\s*\w*\s*\{|\bsink_\(|std::cerr|std::cout|std::clog|(?<![sn])printf\(|\bfwrite\(|\bputs\(|::write\(|"
    r"last_error\s*=")

# (file, a regex the line matches, why it is safe). Each must match >= 1 line.
ALLOWED = [
    ("include/lockstep/detail/run/emitter.hpp", r"Event e\{Body::name, EventHeader\{",
     "the one place events are made (its redaction is checked below)"),
    ("include/lockstep/detail/run/emitter.hpp", r"^\s*sink_\(e\);",
     "the event, every string value redacted (checked below), to the sink"),
    ("include/lockstep/events/json_sink.hpp", r"std::fwrite\(line\.data\(\), 1, line\.size\(\), out_\)",
     "the JSON sink writes to_json(Event): events only the Emitter makes, redacted"),
    ("include/lockstep/heartbeat.hpp", r"s\.state\.last_error = renewal\.error\(\)\.message;",
     "ReplicaSessions::renew runs in the registry session's boundary, which scrubbed the error (to_json, /readyz)"),
    ("include/lockstep/heartbeat.hpp", r"s\.state\.last_error = ran\.error\(\)\.message;",
     "run_in_background is run(), inside the boundary, which scrubbed the error"),
    ("include/lockstep/background.hpp", r"state\.last_error = s\.error\(\)\.message;",
     "a runner step's error: JobRunner::step runs in its session's boundary, which scrubbed it"),
    ("include/lockstep/background.hpp", r"out\.last_error = s\.last_error;",
     "several runners' states combined: each last_error is a step's, scrubbed by its boundary (above)"),
    ("include/lockstep/background.hpp", r"s\.state\.last_error = ran\.error\(\)\.message;",
     "run_background's error: a step's (scrubbed by its boundary), a source's load (no URL), or a fixed sentence"),
    ("include/lockstep/ledger/background_jobs.hpp", r"last_error = NULL",
     "SQL text that clears the column, not an output"),
    ("include/lockstep/ledger/background_jobs.hpp", r"last_error = \" \+ detail::quote_literal\(message\)",
     "SQL text storing a failed batch's message, which the runner scrubbed with its session's redactor first"),
    ("include/lockstep/ledger/background_jobs.hpp", r"last_error = CASE WHEN last_error",
     "SQL text keeping a finished job's count of skipped keys (stored scrubbed by skip()), not an output"),
    ("include/lockstep/ledger/background_jobs.hpp", r"last_error = 'skipped ' \|\| \(COALESCE",
     "SQL text storing a skipped key's message, which the runner scrubbed with its session's redactor first"),
    ("include/lockstep/ledger/background_jobs.hpp", r"j\.last_error = detail::to_text\(r\[16\]\);",
     "read back what the runner stored, scrubbed; the program prints it through cli_redactor()"),
    ("examples/cli/main.cpp", r'std::cerr << "(lockstep: )?background job " << \*a\.resolve_version',
     "background pause|resume|retry|cancel|finalize: a version number, the action's name, and for finalize "
     "the job's state and counts"),
    ("examples/cli/main.cpp", r'std::cerr << "lockstep: the jobs left wait for older replicas',
     "background run: a fixed sentence"),
    ("include/lockstep/detail/run/status.hpp", r"for \(auto& j : jobs\) j\.last_error = ctx\.redact\(\)\(j\.last_error\);",
     "status: a job's stored error (scrubbed by its runner) redacted again with this run's secrets, like failures"),
    ("examples/cli/main.cpp", r"std::cout << cli_redactor\(\)\(o\.str\(\)\) << '\\n';",
     "background status: the jobs' rows, redacted with every secret the program was given"),
    ("examples/cli/main.cpp", r'std::cerr << "lockstep: migration_failed: background job\(s\) failed:";',
     "background run: a fixed sentence"),
    ("examples/cli/main.cpp", r"for \(auto v : ran\.value\(\)\.failed\) std::cerr << ' ' << v;",
     "background run: version numbers"),
    ("examples/cli/main.cpp", r'std::cerr << " \(lockstep background status; fix, then lockstep background retry VERSION\)',
     "background run: a fixed sentence"),
    ("examples/cli/main.cpp", r'std::cerr << "lockstep: " << e\.to_string\(\)',
     "print_error: the Error scrubbed by the library's boundary and again by cli_redactor()"),
    ("examples/cli/main.cpp", r"std::cerr << \"lockstep: schema_contracted: \" << cli_redactor\(\)\(why\)",
     "heartbeat last_error, redacted by the CLI's redactor as well"),
    ("examples/cli/main.cpp", r'std::cerr << "lockstep: cannot write the (metrics|report) to " << a\.(metrics_file|report)',
     "a path the user gave; no connection string"),
    ("examples/cli/main.cpp", r'std::cerr << "lockstep: lock_unsafe: migration " << p\.version',
     "a version and a file name"),
    ("examples/cli/progress_bar.hpp", r"std::fwrite\(text\.data\(\), 1, text\.size\(\), out\);",
     "on a terminal: the progress bar and short lines of events (redacted by the library's Emitter) and "
     "background status bars (ledger rows), each line passed through the program's redactor (cli_redactor()) "
     "just before this write (tests/unit/cli_progress_bar_test.cpp)"),
    ("examples/cli/main.cpp", r"std::printf\(",
     "status table: ledger rows (versions, names, times, hosts, deploy versions); the one free text, "
     "failure messages, redacted by detail/run/status.hpp; status JSON likewise"),
    ("examples/cli/main.cpp", r"std::cout << to_json\(f, FindingJson\{&m\}\) << '\\n';",
     "lint --json: a file's findings (checks/render.hpp), no database involved"),
    ("examples/cli/main.cpp", r"std::cerr << to_text\(f, m\) << '\\n';",
     "lint: a file's findings (checks/render.hpp), no database involved"),
    ("examples/cli/main.cpp", r"std::cerr << migrations\.value\(\)\.size\(\) << \" migrations, \"",
     "lint: counts"),
    ("examples/cli/main.cpp", r'std::cerr << "resolved " << n\.value\(\)', "resolve: counts"),
    ("examples/cli/main.cpp", r'std::cout << "-- lockstep " << LOCKSTEP_VERSION_STRING << ": the ledger "',
     "ledger-sql: DDL of the ledger, no database involved"),
    ("examples/cli/main.cpp", r"std::cout << ledger\.grant_sql\(a\.role\)", "ledger-sql: GRANTs to a role name"),
    ("examples/cli/main.cpp", r'std::cerr << "lockstep: " << cli_redactor\(\)\(a\.error\)',
     "usage errors echo arguments (--url=...): redacted with every argument's secrets"),
    ("examples/cli/main.cpp", r"std::cout << cli::usage_text;", "help text"),
    ("examples/cli/main.cpp", r'std::cout << "lockstep " << LOCKSTEP_VERSION_STRING << " \(" << built_with\(\)',
     "version"),
    ("examples/cli/main.cpp", r"const bool written = ::write\(fd, text\.data\(\), text\.size\(\)\)",
     "new: the header template and the new file's own name, into the new migration file"),
    ("examples/cli/main.cpp", r"std::cout << path\.string\(\) << '\\n';",
     "new: the path of the file it created (--dir and a checked name, no database involved)"),
]

# Public Migrator entry points returning a result without detail::boundary.
BOUNDARY_EXEMPT = {
    "heartbeat": "its errors are fixed sentences, or come from ReplicaSessions::enroll (detail/run/registry.hpp), "
                 "which runs in the registry session's boundary",
    "run_in_background": "it is run() (which runs in the boundary) with its events marked background",
    "background": "Background::start: its errors are fixed sentences; the runner's steps run in their sessions' "
                  "boundaries (detail/background/runner.hpp)",
}


def main() -> int:
    src = pathlib.Path(sys.argv[1])
    files = sorted(src.glob("include/lockstep/**/*.hpp")) + sorted(src.glob("examples/cli/*.[ch]pp"))
    problems = []
    used = [0] * len(ALLOWED)
    checked = []
    for path in files:
        rel = path.relative_to(src).as_posix()
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("//", 1)[0]
            if not EMISSION.search(code):
                continue
            hit = [i for i, (f, pattern, _) in enumerate(ALLOWED) if f == rel and re.search(pattern, code)]
            if not hit:
                problems.append(f"{rel}:{number}: output without redaction (route it through the Redactor, "
                                f"or list it in {pathlib.Path(__file__).name} with why it is safe):\n    {line.strip()}")
            for i in hit:
                used[i] += 1
            checked.append(f"{rel}:{number}")
    for i, n in enumerate(used):
        if n == 0:
            problems.append(f"allowlist entry matches nothing (remove it): {ALLOWED[i][0]}: {ALLOWED[i][1]}")

    # Errors: the public entry points of Migrator run inside the boundary.
    migrator = (src / "include/lockstep/migrator.hpp").read_text()
    public = migrator.split(" private:", 1)[0]
    for m in re.finditer(r"\[\[nodiscard\]\] result<.*?> (\w+)\([^)]*\) noexcept \{", public):
        body = public[m.end():m.end() + 600]
        name = m.group(1)
        if "detail::boundary<" not in body.split("[[nodiscard]]", 1)[0] and name not in BOUNDARY_EXEMPT:
            problems.append(f"include/lockstep/migrator.hpp: Migrator::{name} returns errors without detail::boundary")
        checked.append(f"Migrator::{name}")
    # Events: the Emitter cleans every string of the header and, through
    # for_each_string, of the body, with the Redactor, before the sink.
    emitter = (src / "include/lockstep/detail/run/emitter.hpp").read_text()
    emit = emitter.split("void emit(", 1)[1].split("\n  }\n", 1)[0] if "void emit(" in emitter else ""
    if not re.search(r"s = redact_\(s\);", emit):
        problems.append("detail/run/emitter.hpp: emit() no longer passes each string through the Redactor")
    if "events::for_each_string(body, clean);" not in emit or emit.find("for_each_string") > emit.find("sink_(e)"):
        problems.append("detail/run/emitter.hpp: emit() does not redact the body's strings before the sink")
    header = (src / "include/lockstep/events/event.hpp").read_text().split("struct EventHeader {", 1)[1].split("};", 1)[0]
    for field in re.findall(r"std::string (\w+)", header):
        if f"clean(e.header.{field})" not in emit:
            problems.append(f"detail/run/emitter.hpp: the header's string field `{field}` is not redacted")
        checked.append(f"EventHeader::{field}")
    walk = (src / "include/lockstep/events/fields.hpp").read_text()
    for kind in ("is_optional<T>", "is_vector<T>", "HasFields<T>", "Inlined"):
        if kind not in walk.split("struct StringWalk", 1)[-1]:
            problems.append(f"events/fields.hpp: StringWalk no longer walks {kind} fields: nested strings go unredacted")
    boundary = (src / "include/lockstep/detail/run/boundary.hpp").read_text()
    if "ctx.redact().scrub(e);" not in boundary:
        problems.append("detail/run/boundary.hpp no longer scrubs the error it returns")
    adapter = (src / "include/lockstep/detail/base/pqxx_adapter.hpp").read_text()
    opening = adapter.split("static result<Connection> open(", 1)[1].split("\n  }\n", 1)[0]
    if "scrub" not in opening:
        problems.append("Connection::open returns libpq's error (which may quote the URL) without scrubbing it")
    checked.append("Connection::open")

    print(f"{len(checked)} emission points checked")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
