"""The shard image's entrypoint, run here for real: the server it starts holds no password.

images/postgres-shard/entrypoint.sh hands initialisation to the official
image's docker-ensure-initdb.sh, then execs the server with the password
variables gone. That official script is not on this machine (no Docker, and
its repository is not reachable), so a stand-in of a few lines takes its
place: like the real one, it reads POSTGRES_PASSWORD_FILE and exports the
password, then returns. Everything else is real: the entrypoint script as the
image copies it, `sh`, and a PostgreSQL server whose /proc/PID/environ is read
while it serves.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import psycopg2
import pytest

from snapthunder import shard_image
from snapthunder.postgres_server import (
    SERVER_USER, PostgresServer, find_binaries, free_port, make_owned_directory, running_as_root,
)
from tests.conftest import child_processes, parent_process, process_environment, scratch_directory

START_SECONDS = 30
PASSWORD = "entrypoint-test-password-3f9c2a"
STAND_IN = """#!/bin/sh
# Stand-in for the official image's docker-ensure-initdb.sh: reads the password as it does.
export POSTGRES_PASSWORD="$(cat "$POSTGRES_PASSWORD_FILE")"
export PGPASSWORD="$POSTGRES_PASSWORD"
env > "$(dirname "$0")/ensure-environment"
printf '%s\\n' "$@" > "$(dirname "$0")/ensure-arguments"
"""


@pytest.fixture
def initialised() -> tuple[Path, PostgresServer]:
    """A scratch directory holding the stand-in, a password file and an initialised, stopped server."""
    root = scratch_directory("snapthunder-entrypoint-")
    make_owned_directory(root)
    server = PostgresServer(find_binaries(), root / "data", free_port())
    server.initialise(PASSWORD)
    server.configure(durable=False)
    bin_dir = root / "bin"
    make_owned_directory(bin_dir)
    (bin_dir / "docker-ensure-initdb.sh").write_text(STAND_IN)
    (bin_dir / "docker-ensure-initdb.sh").chmod(0o755)
    (root / "superuser-password").write_text(PASSWORD)
    if running_as_root():
        for path in (bin_dir / "docker-ensure-initdb.sh", root / "superuser-password"):
            shutil.chown(path, SERVER_USER, SERVER_USER)
    try:
        yield root, server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_the_server_the_entrypoint_starts_has_no_password_in_its_environment(initialised) -> None:
    root, server = initialised
    environment = {"PATH": f"{root / 'bin'}:{server.binaries}:/usr/bin:/bin",
                   "POSTGRES_PASSWORD_FILE": str(root / "superuser-password"),
                   # As if given to the container directly: the entrypoint drops it too.
                   "PGPASSWORD": PASSWORD}
    command = ["env", "-i", *(f"{name}={value}" for name, value in environment.items()),
               "sh", str(shard_image.ENTRYPOINT), "postgres", "-D", str(server.data_dir)]
    if running_as_root():
        command = ["runuser", "-u", SERVER_USER, "--", *command]
    with open(server.data_dir / "server.log", "ab") as log:
        launcher = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        postmaster = _wait_until_serving(server, PASSWORD, launcher)
        # exec: the server is the entrypoint's own process, no shell left above it to catch signals.
        assert os.path.realpath(f"/proc/{postmaster}/exe") == os.path.realpath(server.binaries / "postgres")
        if running_as_root():
            assert parent_process(postmaster) == launcher.pid  # runuser's child became the server
        else:
            assert postmaster == launcher.pid
        children = child_processes(postmaster)
        assert children, "the server's own processes (checkpointer, walwriter, …) must be there to check"
        checked = 0
        for process in [postmaster, *children]:
            variables = process_environment(process)
            if variables is None:
                assert process != postmaster
                continue        # a backend that ended between the listing and here
            checked += 1
            names = {variable.split(b"=", 1)[0] for variable in variables}
            assert not names & {b"POSTGRES_PASSWORD", b"PGPASSWORD"}, process
            assert not any(PASSWORD.encode() in variable for variable in variables), process
        assert checked >= 2
        # Initialisation itself still got the password, and the server's arguments.
        assert f"POSTGRES_PASSWORD={PASSWORD}" in (root / "bin" / "ensure-environment").read_text().splitlines()
        assert (root / "bin" / "ensure-arguments").read_text().split() == ["postgres", "-D", str(server.data_dir)]
    finally:
        server.stop()
        launcher.wait(timeout=START_SECONDS)


def test_an_ended_process_reads_as_no_environment() -> None:
    """The race the test above meets: a backend ends between the listing and the read."""
    ended = subprocess.Popen(["true"])
    deadline = time.monotonic() + START_SECONDS
    while Path(f"/proc/{ended.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline, "`true` did not exit"
        time.sleep(0.01)
    assert process_environment(ended.pid) in (None, [b""])   # a zombie: ProcessLookupError, or empty
    ended.wait()
    assert process_environment(ended.pid) is None           # reaped: FileNotFoundError
    assert process_environment(os.getpid())                  # a live one reads


def _wait_until_serving(server: PostgresServer, password: str, launcher: subprocess.Popen) -> int:
    """The postmaster's pid, once it accepts a password login."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        assert launcher.poll() is None, f"the entrypoint exited ({launcher.returncode}):\n{server.log_tail()}"
        try:
            psycopg2.connect(host="127.0.0.1", port=server.port, dbname="postgres",
                             user=shard_image.SUPERUSER, password=password).close()
            return int((server.data_dir / "postmaster.pid").read_text().split()[0])
        except (psycopg2.OperationalError, OSError):
            time.sleep(0.1)
    raise AssertionError(f"the server did not start within {START_SECONDS} s:\n{server.log_tail()}")
