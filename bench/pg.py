"""A private PostgreSQL cluster for one benchmark run, and what the machine and server are.

The harness never touches the shared server: it starts its own cluster (``tests/support/postgres.py``:
``initdb`` into a temporary directory, a free port; here with ``pg_stat_statements`` preloaded so
statements can be counted server-side) and stops it at the end. Its settings are PostgreSQL's defaults apart from the
few listed in ``SERVER_SETTINGS``; everything that matters is printed with the figures.
"""

from __future__ import annotations

import contextlib
import os
import platform
import time
from pathlib import Path

from tests.support.postgres import PrivatePostgres, as_postgres_user, chown_for_server, free_port  # noqa: F401

# Only what a benchmark of this size needs; durability settings stay at their defaults
# (fsync=on, synchronous_commit=on, full_page_writes=on) so the figures mean something.
SERVER_SETTINGS = {
    "max_connections": "300",
    "shared_preload_libraries": "'pg_stat_statements'",
    "pg_stat_statements.max": "2000",
    "pg_stat_statements.track": "'top'",
    "pg_stat_statements.track_utility": "on",  # BEGIN and COMMIT count as statements
    "max_wal_size": "'2GB'",  # the 1M-entry load must not be dominated by forced checkpoints
    "logging_collector": "off",
    "log_min_messages": "warning",
    "log_checkpoints": "off",
}

REPORTED_SETTINGS = (
    "server_version", "shared_buffers", "effective_cache_size", "work_mem", "maintenance_work_mem",
    "synchronous_commit", "fsync", "full_page_writes", "wal_level", "wal_sync_method", "wal_buffers",
    "commit_delay", "max_wal_size", "checkpoint_timeout", "max_connections", "random_page_cost",
    "jit", "max_parallel_workers_per_gather", "autovacuum",
)


class PrivateCluster(PrivatePostgres):
    """``with PrivateCluster() as pg:`` → a running server on ``pg.port`` with ``SERVER_SETTINGS`` and
    ``pg_stat_statements``, removed afterwards (the shared cluster of ``tests/support/postgres.py``)."""

    def __init__(self, keep: bool = False):
        super().__init__(settings=SERVER_SETTINGS, keep=keep, prefix="wallets_bench_pg_")

    def start(self) -> PrivateCluster:
        super().start()
        with self.connect(autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        return self

    def settings(self) -> dict[str, str]:
        with self.connect(autocommit=True) as conn:
            rows = conn.execute(
                "SELECT name, setting, unit FROM pg_settings WHERE name = ANY(%s)", [list(REPORTED_SETTINGS)]
            ).fetchall()
        out = {}
        for name, setting, unit in rows:
            out[name] = _with_unit(setting, unit)
        out["pg_stat_statements"] = "preloaded (statements counted server-side)"
        return dict(sorted(out.items()))


def _with_unit(setting: str, unit: str | None) -> str:
    if unit in ("8kB", "kB", "MB") and setting.lstrip("-").isdigit():
        factor = {"8kB": 8, "kB": 1, "MB": 1024}[unit]
        kb = int(setting) * factor
        if kb >= 1024 * 1024 and kb % (1024 * 1024) == 0:
            return f"{kb // (1024 * 1024)}GB"
        if kb >= 1024 and kb % 1024 == 0:
            return f"{kb // 1024}MB"
        return f"{kb}kB"
    if unit in ("s", "ms", "min"):
        return f"{setting}{unit}"
    return setting


_RI_CHECK = r"^SELECT \S+ FROM ONLY .* FOR KEY SHARE OF x$"


class StatementCounter:
    """Statements one database executed in a window, from ``pg_stat_statements`` (BEGIN and
    COMMIT included). The control connection uses the ``postgres`` database, so it is not counted."""

    def __init__(self, cluster: PrivateCluster, dbname: str):
        self.cluster = cluster
        self.dbid = cluster.database_oid(dbname)
        self.conn = cluster.connect(autocommit=True)

    def reset(self) -> None:
        self.conn.execute("SELECT pg_stat_statements_reset()")

    def read(self, *, untracked_per_transaction: int = 0, transactions: int = 0) -> tuple[int, list[tuple[str, int]]]:
        """(statements, [(statement, calls)…]) since ``reset``. Foreign-key checks that triggers run
        (``SELECT 1 FROM ONLY … FOR KEY SHARE``) are the server's own work, not statements a client
        sent, and are left out. pgbench's prepared BEGIN/COMMIT do not reach pg_stat_statements:
        ``untracked_per_transaction`` adds them back."""
        rows = self.conn.execute(
            "SELECT query, calls FROM pg_stat_statements WHERE dbid = %s AND query !~ %s ORDER BY calls DESC",
            [self.dbid, _RI_CHECK],
        ).fetchall()
        statements = [(" ".join(q.split())[:160], calls) for q, calls in rows]
        if untracked_per_transaction:
            statements = [(q, c) for q, c in statements if q not in ("BEGIN", "COMMIT", "ROLLBACK")]
            statements.append(("BEGIN + COMMIT/ROLLBACK (prepared, added)", untracked_per_transaction * transactions))
            statements.sort(key=lambda item: -item[1])
        return sum(calls for _, calls in statements), statements

    def close(self) -> None:
        self.conn.close()


def machine_info() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gib = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kb = int(Path("/proc/meminfo").read_text().splitlines()[0].split()[1])
        mem_gib = f"{kb / 1024 / 1024:.1f} GiB"
    load = os.getloadavg()
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "ram": mem_gib,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_1_5_15": " ".join(f"{x:.2f}" for x in load),
        "time_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
    }


def process_tree_cpu_seconds(root_pid: int) -> float:
    """User + system CPU seconds of a process and all its descendants, live or reaped (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    stats: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        # utime + stime, plus cutime + cstime: the CPU of children that exited and were reaped
        # (a client's PostgreSQL backend ends with its connection; the postmaster reaps it).
        stats[pid] = (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / tick
    total, todo = 0.0, [root_pid]
    while todo:
        pid = todo.pop()
        total += stats.get(pid, 0.0)
        todo.extend(children.get(pid, []))
    return total
