"""A throwaway PostgreSQL cluster from Debian's postgresql package, on loopback.

`make test` installs the package; this starts a private cluster (initdb into a temporary dir, a
free port, password auth) and stops it at the end, so no system service is touched. PostgreSQL
refuses to run as root, so as root the cluster runs as the `postgres` user the package creates.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError(
            "PostgreSQL's server is not installed: run `make test` (it installs Debian's "
            "postgresql) or `apt-get install postgresql`."
        )
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    """One running cluster; `url(db)` is a connection URL with the password in it."""

    root: Path
    port: int
    user: str
    password: str
    _as_user: list[str]

    def url(self, database: str = "cio") -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "cio") -> str:
        env = {**os.environ, "PGPASSWORD": self.password}
        done = subprocess.run(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
             "-p", str(self.port), "-U", self.user, "-d", database, "-c", sql],
            env=env, capture_output=True, text=True, check=True,
        )
        return done.stdout.strip()

    def create_database(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}"', database="postgres")
        return self.url(name)

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            [*self._as_user, str(_bin_dir() / "pg_ctl"), "-D", str(self.root / "data"),
             "-m", mode, "-w", "stop"],
            capture_output=True, check=False,
        )

    def start(self) -> None:
        subprocess.run(
            [*self._as_user, str(_bin_dir() / "pg_ctl"), "-D", str(self.root / "data"),
             "-l", str(self.root / "server.log"), "-w", "-t", "60", "start"],
            capture_output=True, check=True,
        )

    def is_up(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return True
        except OSError:
            return False


def start_postgres(base: Path | None = None, *, durable: bool = False) -> PostgresServer:
    """durable=False turns fsync off: tests never crash PostgreSQL itself; benchmarks keep it."""
    bin_dir = _bin_dir()
    root = Path(tempfile.mkdtemp(prefix="cio-pg-", dir=base))
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres", "postgres")
    password = secrets.token_urlsafe(18)
    pwfile = root / "pw"
    pwfile.write_text(password)
    if as_user:
        shutil.chown(pwfile, "postgres", "postgres")
    subprocess.run(
        [*as_user, str(bin_dir / "initdb"), "-D", str(root / "data"), "-U", "cio",
         "--auth=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8", "--no-sync"],
        capture_output=True, check=True,
    )
    pwfile.unlink()
    port = _free_port()
    with open(root / "data" / "postgresql.conf", "a") as conf:
        conf.write(
            f"\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{root}'\n"
            "max_connections = 200\nshared_buffers = 128MB\n"
            + ("" if durable else "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
        )
    server = PostgresServer(root, port, "cio", password, as_user)
    server.start()
    deadline = time.monotonic() + 30
    while not server.is_up():
        if time.monotonic() > deadline:
            raise RuntimeError(f"PostgreSQL did not start: see {root / 'server.log'}")
        time.sleep(0.1)
    server.psql("CREATE DATABASE cio", database="postgres")
    return server


def remove(server: PostgresServer) -> None:
    server.stop("immediate")
    shutil.rmtree(server.root, ignore_errors=True)
