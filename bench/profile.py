"""Where an API posting's app CPU goes: one posting cell against a running application server under
py-spy (``--phases profile``).

py-spy samples every worker process of the server from outside (``--subprocesses``, ``--nonblocking``:
the workers are never paused) at ``RATE`` samples a second, only the thread holding the GIL (``--gil``:
a thread waiting on PostgreSQL, a socket or the GIL is not running Python), so a sample is 1/``RATE`` s
of Python CPU. The CPU per
request comes from the kernel (the server's process tree, as the posting phase does); the samples say
how it divides, each frame's share of the samples times that figure:

- ``inclusive``: the CPU of a function and everything it called (each function once per stack);
- ``self``: the CPU of the innermost Python frame, C code it called included (grouped by package).

Figures only; nothing here passes or fails on time.
"""

from __future__ import annotations

import collections
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import posting
from bench.pg import process_tree_cpu_seconds

RATE = 250
TOP = 40  # the request's chain (threads, gunicorn, each middleware) takes the first ~20


def py_spy() -> str | None:
    found = Path(sys.executable).with_name("py-spy")
    return str(found) if found.exists() else shutil.which("py-spy")


def _frame_parts(frame: str) -> tuple[str, str]:
    """``'post (wallets/ledger/posting.py)'`` → (``post``, ``wallets/ledger/posting.py``)."""
    name, _, where = frame.partition(" (")
    return name.strip(), where.rstrip(")").split(":")[0]


def package_of(path: str) -> str:
    """A readable owner for a file: ``django/db/models``, ``rest_framework``, ``wallets/ledger``, ``psycopg`` …"""
    parts = [p for p in path.replace("\\", "/").split("/") if p]
    for anchor in ("site-packages", "lib"):
        if anchor in parts:
            parts = parts[len(parts) - parts[::-1].index(anchor):]
    if not parts:
        return "?"
    if parts[0] == "django" and len(parts) > 2:
        return "/".join(parts[:3]) if parts[1] in ("db", "core", "contrib", "utils") else "/".join(parts[:2])
    if parts[0] == "wallets" and len(parts) > 1:
        return "/".join(parts[:2]).removesuffix(".py")
    if len(parts) == 1:
        return "stdlib " + parts[0].removesuffix(".py")
    return parts[0]


def parse_collapsed(text: str) -> tuple[int, collections.Counter, collections.Counter, collections.Counter]:
    """(samples, inclusive by frame, self by frame, self by package) from py-spy's raw (collapsed) output."""
    total = 0
    inclusive: collections.Counter = collections.Counter()
    own: collections.Counter = collections.Counter()
    packages: collections.Counter = collections.Counter()
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [f for f in stack.split(";") if f and not f.startswith("process ")]
        if not frames:
            continue
        total += n
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
        packages[package_of(_frame_parts(frames[-1])[1])] += n
    return total, inclusive, own, packages


def profile(run, server, workload: posting.Workload, *, clients: int, seconds: float, variant: str) -> dict:
    binary = py_spy()
    if binary is None:
        raise RuntimeError("py-spy is not installed: pip install -e '.[dev]'")
    workdir = Path(tempfile.mkdtemp(prefix="wallets_bench_pyspy_"))
    out_file = workdir / "stacks.txt"
    spy: dict = {}
    cpu: dict = {}

    def on_ready():
        # Attach once every client has warmed up, so the samples cover the measured window only.
        spy["proc"] = subprocess.Popen(
            [binary, "record", "--pid", str(server.process.pid), "--subprocesses", "--nonblocking", "--gil",
             "--rate", str(RATE), "--format", "raw", "--nolineno", "--output", str(out_file)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        time.sleep(0.3)  # py-spy finds the workers
        cpu["app"] = process_tree_cpu_seconds(server.process.pid)

    tag = f"profile-{variant}-{time.time_ns()}"
    try:
        result = posting.run_clients(variant, run.ctx(server.port, tag), workload, clients=clients, duration=seconds,
                                     round_no=1, on_ready=on_ready)
        app_cpu = process_tree_cpu_seconds(server.process.pid) - cpu["app"]
        proc = spy["proc"]
        proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        if not out_file.exists():
            raise RuntimeError(f"py-spy wrote nothing: {err.decode(errors='replace')[-500:]}")
        total, inclusive, own, packages = parse_collapsed(out_file.read_text())
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    issued = sum(result["outcomes"].values())
    app_ms = app_cpu / issued * 1000 if issued else 0.0
    # The samples give the shares; the kernel's figure gives the total they are shares of. py-spy's count
    # is wall time holding the GIL, not CPU: a holder the kernel has preempted (a loaded machine) is
    # sampled all the same, so on a busy machine the count runs over the CPU and is no clock.
    per_req = app_ms / total if total else 0.0

    def top(counter: collections.Counter, n: int = TOP) -> list[dict]:
        return [{"frame": frame, "ms_per_req": round(count * per_req, 3), "share": round(count / total, 3)}
                for frame, count in counter.most_common(n)] if total else []

    return {
        "variant": variant, "workload": workload.name, "clients": clients, "seconds": seconds,
        "server": server.describe(), "requests": issued, "throughput": round(result["throughput"], 1),
        "outcomes": result["outcomes"], "errors": result["errors"],
        "app_cpu_ms_per_req": round(app_ms, 3) if issued else None,
        "sampled_cpu_ms_per_req": round(total / RATE / issued * 1000, 3) if issued else None, "samples": total,
        "rate_hz": RATE,
        "inclusive": top(inclusive), "self": top(own, 15), "self_by_package": top(packages, 15),
    }
