"""PostgreSQL for the tests: a given server, or a throwaway cluster started from the machine's
`initdb`/`postgres` (run as the `postgres` user when we are root; unix socket only; removed at the
end). The fixtures built on it (`postgres_server_url`, `postgres_url`) are in conftest.py.

`ThrowawayCluster()` is for speed (fsync and full-page writes off: nothing in it has to survive
a crash). `ThrowawayCluster(durable=True)` runs with fsync, synchronous_commit and full-page
writes on, as production should, and can have its postmaster SIGKILLed and be started again
on the same data directory (`kill_postmaster`, `start`): the crash tests use it.

The cluster's socket folder is owned by `postgres` and mode 0700 when we are root: processes
running as root (the test and any server it starts) reach it; other users cannot.
"""

from __future__ import annotations

import glob
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

POSTGRES_URL_ENV = "QUALITY_TEST_POSTGRES_URL"
START_TIMEOUT_S = 60


class PostgresUnavailable(Exception):
    pass


def postgres_bindir() -> Path:
    initdb = shutil.which("initdb")
    candidates = [Path(initdb).resolve().parent] if initdb else []
    candidates += [Path(path) for path in sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                                                 key=lambda path: int(Path(path).parent.name)
                                                 if Path(path).parent.name.isdigit() else 0, reverse=True)]
    for bindir in candidates:
        if all((bindir / program).exists() for program in ("initdb", "pg_ctl", "postgres")):
            return bindir
    raise PostgresUnavailable("initdb/pg_ctl/postgres not found (install the postgresql package, or set "
                              f"{POSTGRES_URL_ENV})")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _process_state(pid: int) -> str | None:
    """The state letter of `pid` from /proc ("R", "S", "Z", ...), None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def _children_of(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            children.append(int(entry.name))
    return children


class ThrowawayCluster:
    """A PostgreSQL cluster in a temporary folder, reachable only by its unix socket there."""

    def __init__(self, *, durable: bool = False):
        try:
            import psycopg  # noqa: F401
        except ImportError as error:
            raise PostgresUnavailable(f"psycopg is not installed ({error})") from error
        self.bindir = postgres_bindir()
        self.durable = durable
        self.run_as: dict = {}
        if os.geteuid() == 0:  # postgres refuses to run as root
            try:
                user = pwd.getpwnam("postgres")
            except KeyError as error:
                raise PostgresUnavailable("running as root and there is no 'postgres' user to run the "
                                          "server as") from error
            self.run_as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        # Short path: a unix socket path must stay under ~100 bytes.
        self.folder = Path(tempfile.mkdtemp(prefix="qpg-", dir="/tmp" if Path("/tmp").is_dir() else None))
        self.data = self.folder / "data"
        self.port = _free_port()
        if self.run_as:
            os.chown(self.folder, self.run_as["user"], self.run_as["group"])
        self.folder.chmod(0o700)
        self.options = f"-c listen_addresses='' -k {self.folder} -p {self.port}"
        if durable:
            # As production: a commit returns once its WAL is flushed to disk.
            self.options += " -c fsync=on -c synchronous_commit=on -c full_page_writes=on"
        else:
            # fsync off: a test cluster, thrown away at the end; nothing to keep across crashes.
            self.options += " -c fsync=off -c full_page_writes=off"
        try:
            # --no-sync: initdb's own files are not flushed; only an OS crash could lose them, and
            # no test crashes the OS. The server's WAL is flushed or not by `fsync` above.
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                      "--locale=C", "--no-sync")
            self.start()
            self.url = self.create_database("quality_test")
        except BaseException:
            self.stop()
            raise

    def _run(self, program: str, *args: str) -> None:
        log = self.folder / f"{program}.out"
        try:
            with open(log, "wb") as out:  # a file, not a pipe: the server must not inherit our pipe
                subprocess.run([str(self.bindir / program), *args], stdin=subprocess.DEVNULL, stdout=out,
                               stderr=subprocess.STDOUT, cwd=self.folder, timeout=START_TIMEOUT_S, check=True,
                               env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
                               **self.run_as)
        except (OSError, subprocess.SubprocessError) as error:
            tail = log.read_text(errors="replace")[-600:] if log.exists() else ""
            raise PostgresUnavailable(f"{program} failed: {error}; {tail.strip()}") from error

    def start(self) -> None:
        """Start the server on the data directory and wait until it takes connections (after a
        crash it first recovers from the WAL). The postmaster is our child, not pg_ctl's orphan:
        once killed it is reaped at once (`kill_postmaster`), so no zombie left holding its pid
        in `postmaster.pid` can keep it from starting again."""
        import psycopg

        log = open(self.folder / "server.log", "ab")
        try:
            self.process = subprocess.Popen(
                [str(self.bindir / "postgres"), "-D", str(self.data), *shlex.split(self.options)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.folder,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
                start_new_session=True, **self.run_as)
        except OSError as error:
            raise PostgresUnavailable(f"postgres failed to start: {error}") from error
        finally:
            log.close()
        deadline = time.monotonic() + START_TIMEOUT_S // 2
        while True:
            try:
                self.connect(connect_timeout=2).close()
                return
            except psycopg.OperationalError as error:
                failure = error
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = (self.folder / "server.log").read_text(errors="replace")[-600:]
                raise PostgresUnavailable(f"postgres did not start ({failure}): {tail.strip()}")
            time.sleep(0.1)

    def connect(self, dbname: str = "postgres", connect_timeout: int = 10):
        """A psycopg connection (autocommit) as the superuser."""
        import psycopg

        return psycopg.connect(host=str(self.folder), port=self.port, user="postgres", dbname=dbname,
                               autocommit=True, connect_timeout=connect_timeout)

    def url_for(self, dbname: str) -> str:
        return f"postgresql+psycopg://postgres@/{dbname}?host={self.folder}&port={self.port}"

    def create_database(self, name: str) -> str:
        """A new database; its SQLAlchemy URL."""
        with self.connect() as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def setting(self, name: str) -> str:
        with self.connect() as connection:
            return connection.execute(f"SHOW {name}").fetchone()[0]

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def kill_postmaster(self, timeout_s: float = 30.0) -> list[int]:
        """SIGKILL the postmaster (no shutdown of any kind: its backends notice their parent is
        gone and exit), reap it, then wait until all of its processes are gone. Returns the pids
        of the processes it had. `postmaster.pid` is left behind, as after a real crash."""
        pid = self.process.pid
        assert self.postmaster_pid() == pid, "postmaster.pid does not name the server we started"
        children = _children_of(pid)
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout_s)
        deadline = time.monotonic() + timeout_s
        left = children
        while time.monotonic() < deadline:
            # Gone, or a zombie its new parent has not reaped yet (dead all the same).
            left = [p for p in left if _process_state(p) not in (None, "Z")]
            if not left:
                return children
            time.sleep(0.05)
        raise RuntimeError(f"PostgreSQL processes {left} still alive {timeout_s} s after SIGKILL of the "
                           f"postmaster {pid}")

    def stop(self) -> None:
        process = getattr(self, "process", None)
        if process is not None and process.poll() is None:
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "20", "stop")
            except PostgresUnavailable:
                pass
            if process.poll() is None:
                process.kill()  # still up: end the server this fixture started
            process.wait(30)
        shutil.rmtree(self.folder, ignore_errors=True)
