"""A real PostgreSQL server for a test module: Debian's `postgresql` binaries, a throwaway cluster.

initdb into a temporary folder, start it with pg_ctl on a free loopback port (its socket in that
folder, trust authentication for loopback only), stop and remove it at the end. PostgreSQL refuses to
run as root, and CI runs as root: then the cluster belongs to the `postgres` system user (created by
the Debian package) and its programs run through `runuser -u postgres --`.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .system import require_program


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield the URL of a fresh server's `postgres` database (user postgres, no password, loopback)."""
    initdb = Path(require_program("initdb", "postgresql", "/usr/lib/postgresql/*/bin/initdb"))
    pg_ctl = str(initdb.with_name("pg_ctl"))
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="pgtest-"))
    if os.geteuid() == 0:
        as_user = [require_program("runuser", "util-linux"), "-u", "postgres", "--"]
        shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", _free_port()
    run = {"check": True, "capture_output": True, "timeout": 60}
    try:
        subprocess.run([*as_user, str(initdb), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"], **run)
        options = f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off"
        log = root / "server.log"
        subprocess.run(
            [*as_user, pg_ctl, "-D", str(data), "-o", options, "-l", str(log), "-w", "-t", "30", "start"], **run
        )
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "-t", "30", "stop"], **run)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def fresh_database(url: str, name: str) -> str:
    """A new empty database on the server at `url` (the server's own `postgres` one stays untouched)."""
    import sqlalchemy as sa

    from pipedrive_connect.replication.schema import engine_url

    engine = sa.create_engine(engine_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return url.rsplit("/", 1)[0] + "/" + name
