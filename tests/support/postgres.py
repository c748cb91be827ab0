"""A private PostgreSQL cluster: ``initdb`` into a temporary directory, a free port, started and
stopped with ``pg_ctl``. A test may crash it (``stop_immediate``) and start it again; a benchmark
gives it its own settings and measures it. It never touches the machine's shared server.

Run as the ``postgres`` OS user when we are root (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_bindir() -> Path:
    """The newest installed PostgreSQL's binaries (Debian keeps initdb out of PATH)."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("pg_ctl")
    if not found:
        raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are not installed: apt-get install postgresql")
    return Path(found).parent


def as_postgres_user() -> list[str]:
    """The command prefix that runs a server program as the ``postgres`` OS user when we are root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise RuntimeError("running as root needs a 'postgres' OS user for a private cluster") from exc
    return ["runuser", "-u", "postgres", "--"]


def chown_for_server(path: Path) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(path, entry.pw_uid, entry.pw_gid)


# Small: a test cluster serves a few gunicorn workers and the test itself.
TEST_SETTINGS = {"max_connections": "60", "shared_buffers": "'32MB'"}


class PrivatePostgres:
    """``PrivatePostgres().init()`` then ``start()``/``stop_immediate()``/``destroy()``, or
    ``with PrivatePostgres(settings=...) as pg:`` (initialised, started, removed afterwards).

    ``settings`` go to ``postgresql.auto.conf`` beside the port, the loopback address and the socket
    directory; ``keep`` leaves the directory in place after ``destroy``.
    """

    def __init__(self, *, settings: dict[str, str] | None = None, keep: bool = False, prefix: str = "wallets-pg-"):
        self.bindir = postgres_bindir()
        self.port = free_port()
        self.settings_conf = TEST_SETTINGS if settings is None else settings
        self.keep = keep
        self.root = Path(tempfile.mkdtemp(prefix=prefix))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        chown_for_server(self.root)
        os.chmod(self.root, 0o700)

    # Names bench's reports use.
    @property
    def datadir(self) -> Path:
        return self.data

    @property
    def logfile(self) -> Path:
        return self.log

    def _run(self, *args, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([*as_postgres_user(), *(str(a) for a in args)], check=check, capture_output=True,
                              text=True, timeout=timeout)

    def url(self, dbname: str = "postgres", port: int | None = None) -> str:
        return f"postgres://postgres@127.0.0.1:{port or self.port}/{dbname}"

    def connect(self, dbname: str = "postgres", **kwargs):
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=dbname, **kwargs)

    def init(self) -> PrivatePostgres:
        self._run(self.bindir / "initdb", "-D", self.data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync", "--no-instructions")
        conf = {"port": str(self.port), "listen_addresses": "'127.0.0.1'",
                "unix_socket_directories": f"'{self.root}'", **self.settings_conf}
        with open(self.data / "postgresql.auto.conf", "a") as handle:
            handle.write("".join(f"{name} = {value}\n" for name, value in conf.items()))
        return self

    def start(self) -> PrivatePostgres:
        self._run(self.bindir / "pg_ctl", "-D", self.data, "-l", self.log, "-w", "-t", "60", "start")
        return self

    def stop(self) -> None:
        """A clean shutdown (checkpoint), as an operator's ``pg_ctl stop``."""
        if self.data.exists():
            self._run(self.bindir / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop", check=False)

    def stop_immediate(self) -> None:
        """A crash, as far as clients can tell: no checkpoint, connections cut."""
        self._run(self.bindir / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        result = self._run(self.bindir / "psql", "-h", "127.0.0.1", "-p", self.port, "-U", "postgres",
                           "-d", dbname, "-v", "ON_ERROR_STOP=1", "-Atc", sql)
        return result.stdout

    def create_database(self, name: str, template: str | None = None) -> None:
        with self.connect(autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if template:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
            else:
                conn.execute(f'CREATE DATABASE "{name}"')

    def database_oid(self, name: str) -> int:
        with self.connect(autocommit=True) as conn:
            return conn.execute("SELECT oid FROM pg_database WHERE datname = %s", [name]).fetchone()[0]

    @property
    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def destroy(self) -> None:
        if self.data.exists():
            self._run(self.bindir / "pg_ctl", "-D", self.data, "-m", "immediate", "stop", check=False)
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        return self.init().start()

    def __exit__(self, *exc) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self.stop()
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)


# A primary that streams its WAL to standbys (``PrivateStandby``): the default initdb pg_hba already
# trusts replication from loopback; the line is written anyway, so the intent is in the file.
# Throw-away clusters: no fsync (the migrations' many commits are most of a test's set-up time). Commits
# still write their WAL at once (synchronous_commit on), so the standby's lag is what production sees,
# not the WAL writer's delay. The standby copies these settings with the data directory.
PRIMARY_SETTINGS = {**TEST_SETTINGS, "wal_level": "replica", "max_wal_senders": "5", "wal_keep_size": "'64MB'",
                    "fsync": "off"}


class PrivateStandby(PrivatePostgres):
    """A hot standby of ``primary`` (a started ``PrivatePostgres`` made with ``PRIMARY_SETTINGS``):
    ``pg_basebackup -R`` of it into a new directory, its own port and socket, ``hot_standby=on``.

    ``init()`` copies the primary (started or not: the copy is whatever the primary holds then),
    ``start()`` streams from it; ``replay_pause()``/``replay_resume()`` stop and restart applying the
    WAL that keeps arriving (the standby's lag grows meanwhile)."""

    def __init__(self, primary: PrivatePostgres, *, keep: bool = False):
        super().__init__(settings={}, keep=keep, prefix="wallets-standby-")
        self.primary = primary

    def init(self) -> PrivateStandby:
        hba = self.primary.data / "pg_hba.conf"
        line = "host replication postgres 127.0.0.1/32 trust\n"
        if line not in hba.read_text():
            self.primary._run("sh", "-c", f"printf '{line}' >> {hba}")
            self.primary.psql("SELECT pg_reload_conf()")
        self._run(self.bindir / "pg_basebackup", "-h", "127.0.0.1", "-p", self.primary.port, "-U", "postgres",
                  "-D", self.data, "-R", "-X", "stream", "-c", "fast", "--no-sync")
        conf = {"port": str(self.port), "listen_addresses": "'127.0.0.1'",
                "unix_socket_directories": f"'{self.root}'", "hot_standby": "on",
                # Queries on the standby are not cancelled for WAL that conflicts with them (a test reads
                # while the primary writes); a paused replay waits for them instead.
                "max_standby_streaming_delay": "-1", "hot_standby_feedback": "on"}
        with open(self.data / "postgresql.auto.conf", "a") as handle:
            handle.write("".join(f"{name} = {value}\n" for name, value in conf.items()))
        return self

    def replay_pause(self) -> None:
        self.psql("SELECT pg_wal_replay_pause()")

    def replay_resume(self) -> None:
        self.psql("SELECT pg_wal_replay_resume()")

    def promote(self) -> None:
        """Make it a primary (``pg_ctl promote``, waiting until it accepts writes)."""
        self._run(self.bindir / "pg_ctl", "-D", self.data, "-w", "-t", "60", "promote")

    def replayed(self, lsn: str) -> bool:
        """Has the standby applied the primary's WAL up to ``lsn`` (``pg_current_wal_lsn()`` there)?"""
        return self.psql(f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn").strip() == "t"
