"""Real PostgreSQL servers on loopback, for the local environment and the tests.

`initdb` refuses to run as root, so as root every server command runs as the
`postgres` OS user (`runuser -u postgres --`) on a data directory that user
owns; as an ordinary user the commands run directly. One data directory is
initialised per environment and copied for each further server, which is
several times faster than running initdb again.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

from snapthunder import shard_image

SERVER_USER = "postgres"


class ServerError(RuntimeError):
    """A server could not be initialised, started or stopped; the message says why and what to do."""


def find_binaries() -> Path:
    """The directory holding `initdb`, `pg_ctl` and `psql` of PostgreSQL 15 (or newer).

    Looked for in $SNAPTHUNDER_PG_BIN, then PATH, then Debian's /usr/lib/postgresql/*/bin.
    """
    candidates = []
    if os.environ.get("SNAPTHUNDER_PG_BIN"):
        candidates.append(Path(os.environ["SNAPTHUNDER_PG_BIN"]))
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(os.path.realpath(on_path)).parent)
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: _major(p.parent.name), reverse=True)
    candidates.extend(debian)
    for directory in candidates:
        if all((directory / tool).exists() for tool in ("initdb", "pg_ctl", "postgres", "psql")):
            return directory
    raise ServerError(
        f"PostgreSQL {shard_image.POSTGRES_MAJOR} server binaries not found (looked in $SNAPTHUNDER_PG_BIN, "
        f"PATH and /usr/lib/postgresql/*/bin): install them, e.g. `apt-get install postgresql-{shard_image.POSTGRES_MAJOR}`"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def running_as_root() -> bool:
    return os.geteuid() == 0


def make_owned_directory(path: Path) -> None:
    """Create `path` for the server user (the postgres OS user when we are root)."""
    path.mkdir(parents=True, exist_ok=True)
    if running_as_root():
        shutil.chown(path, SERVER_USER, SERVER_USER)
        if subprocess.run(["runuser", "-u", SERVER_USER, "--", "test", "-w", str(path)]).returncode != 0:
            raise ServerError(f"the {SERVER_USER} OS user cannot reach {path}: make its parent directories "
                              "traversable (chmod o+x) or choose another data directory")


class PostgresServer:
    """One server: a data directory, a loopback port and its `pg_ctl` lifecycle."""

    def __init__(self, binaries: Path, data_dir: Path, port: int) -> None:
        self.binaries = binaries
        self.data_dir = data_dir
        self.port = port

    def initialise(self, superuser_password: str) -> None:
        """initdb with the shard image's authentication; C collation sorts chromosomes as the file does."""
        password_file = self.data_dir.parent / f".{self.data_dir.name}.pw"
        password_file.write_text(superuser_password + "\n")
        if running_as_root():
            shutil.chown(password_file, SERVER_USER, SERVER_USER)
        try:
            self._run("initdb", "--pgdata", str(self.data_dir), "--username", shard_image.SUPERUSER,
                      *shard_image.initdb_arguments(), f"--pwfile={password_file}", "--no-sync")
        finally:
            password_file.unlink()

    def copy_from(self, template: "PostgresServer") -> None:
        """A new data directory as a copy of an initialised, stopped one (owner kept)."""
        subprocess.run(["cp", "-a", str(template.data_dir), str(self.data_dir)], check=True)

    def configure(self, durable: bool) -> None:
        """The image's server settings, then what differs locally: loopback, port, socket dir."""
        shutil.copyfile(shard_image.SERVER_SETTINGS, self.data_dir / shard_image.SERVER_SETTINGS.name)
        overrides = [
            f"include '{shard_image.SERVER_SETTINGS.name}'",
            "listen_addresses = '127.0.0.1'",
            f"port = {self.port}",
            f"unix_socket_directories = '{self.data_dir}'",
        ]
        if not durable:
            overrides += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write("\n# snapthunder local environment\n" + "\n".join(overrides) + "\n")

    def start(self) -> None:
        log = self.data_dir / "server.log"
        try:
            self._run("pg_ctl", "--pgdata", str(self.data_dir), "--log", str(log), "--wait", "--timeout", "60", "start")
        except ServerError as error:
            raise ServerError(f"{error}\n{self.log_tail()}") from None

    def stop(self, mode: str = "fast") -> None:
        """Stop at once (fast shutdown; `immediate` is a crash, for tests); a server that is not running is fine."""
        if self.is_running():
            self._run("pg_ctl", "--pgdata", str(self.data_dir), "--mode", mode, "--wait", "stop")

    def is_running(self) -> bool:
        if not (self.data_dir / "postmaster.pid").exists():
            return False
        status = subprocess.run(self._command("pg_ctl", "--pgdata", str(self.data_dir), "status"),
                                capture_output=True, text=True)
        return status.returncode == 0

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = (self.data_dir / "server.log").read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    def _command(self, tool: str, *arguments: str) -> list[str]:
        command = [str(self.binaries / tool), *arguments]
        return ["runuser", "-u", SERVER_USER, "--", *command] if running_as_root() else command

    def _run(self, tool: str, *arguments: str) -> None:
        result = subprocess.run(self._command(tool, *arguments), capture_output=True, text=True)
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip()
            raise ServerError(f"{tool} on {self.data_dir} failed (exit {result.returncode}): {detail}")


def _major(version: str) -> int:
    return int(version) if version.isdigit() else 0
