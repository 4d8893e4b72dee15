"""The local environment: a deployment on one machine, with no cluster.

`up` starts one real PostgreSQL server per shard of the plan on 127.0.0.1,
initialises each with the shard image's own init script and SQL, and writes
the endpoints document in the same shape as the Pulumi stack outputs, so
loaders, the API and the bench run unchanged against it. `down` stops every
process `up` started and removes the data. What `down` needs (data directory,
servers) is kept under the document's `local` key.

    python -m snapthunder.localenv up [--shards N] [--outputs PATH] [--data-dir DIR]
    python -m snapthunder.localenv down [--outputs PATH]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg2
from psycopg2 import sql

from snapthunder import endpoints as endpoints_module
from snapthunder import shard_image
from snapthunder.endpoints import Credentials, Endpoints, EndpointsError
from snapthunder.plan import PlanError, plan_shards
from snapthunder.postgres_server import PostgresServer, ServerError, find_binaries, free_port, make_owned_directory

DEFAULT_OUTPUTS = Path(".snapthunder") / "endpoints.json"
DEFAULT_SHARDS = 4
DEFAULT_COMPILATION = "gtex"


class LocalEnvironmentError(RuntimeError):
    """The environment cannot be brought up or down; the message says what to do."""


def up(
    shards: int | str = DEFAULT_SHARDS,
    outputs: Path = DEFAULT_OUTPUTS,
    data_dir: Path | None = None,
    compilation: str = DEFAULT_COMPILATION,
    durable: bool = True,
) -> Endpoints:
    """Start the servers of a plan and write the endpoints document to `outputs`.

    `durable=False` turns off fsync: for throwaway test environments only.
    """
    plan = plan_shards(shards)
    outputs = Path(outputs).absolute()
    _refuse_if_running(outputs)
    root = Path(data_dir).absolute() if data_dir else outputs.with_suffix(".data")
    if root.exists():
        shutil.rmtree(root)
    make_owned_directory(root)
    binaries = find_binaries()
    names = list(plan.shards)
    servers = {name: PostgresServer(binaries, root / name, free_port()) for name in names}
    superuser_password = secrets.token_urlsafe(18)
    loader = {name: Credentials(shard_image.LOADER_ROLE, secrets.token_urlsafe(18)) for name in names}
    reader = Credentials(shard_image.READER_ROLE, secrets.token_urlsafe(18))
    try:
        template = servers[names[0]]
        template.initialise(superuser_password)
        for name in names[1:]:
            servers[name].copy_from(template)
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            list(pool.map(lambda name: _start_shard(servers[name], superuser_password, loader[name], reader, durable),
                          names))
    except BaseException:
        _stop_all(servers.values())
        shutil.rmtree(root, ignore_errors=True)
        raise
    document = endpoints_module.document(
        compilation, plan,
        {name: ("127.0.0.1", server.port, shard_image.DATABASE) for name, server in servers.items()},
        loader, reader,
    )
    document["local"] = {
        "root": str(root),
        "binaries": str(binaries),
        "superuser": {"user": shard_image.SUPERUSER, "password": superuser_password},
        "servers": {name: {"data_dir": str(server.data_dir), "port": server.port} for name, server in servers.items()},
    }
    environment = Endpoints.from_document(document, str(outputs))
    endpoints_module.save(environment, outputs)
    return environment


def down(outputs: Path = DEFAULT_OUTPUTS) -> bool:
    """Stop everything `up` started for `outputs` and remove its data; False if nothing was up."""
    outputs = Path(outputs).absolute()
    if not outputs.exists():
        return False
    local = _local_section(outputs)
    _stop_all(_servers(local))
    shutil.rmtree(local["root"], ignore_errors=True)
    outputs.unlink()
    return True


def _start_shard(server: PostgresServer, superuser_password: str, loader: Credentials,
                 reader: Credentials, durable: bool) -> None:
    server.configure(durable)
    server.start()
    superuser = dict(host="127.0.0.1", port=server.port, user=shard_image.SUPERUSER, password=superuser_password)
    connection = psycopg2.connect(dbname="postgres", **superuser)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(shard_image.DATABASE)))
    finally:
        connection.close()
    environment = dict(os.environ, PGHOST="127.0.0.1", PGPORT=str(server.port), PGPASSWORD=superuser_password,
                       PATH=f"{server.binaries}{os.pathsep}{os.environ.get('PATH', '')}")
    environment.update(shard_image.init_environment(loader.password, reader.password, str(shard_image.SQL_DIR)))
    result = subprocess.run(["sh", str(shard_image.INIT_SCRIPT)], env=environment, capture_output=True, text=True)
    if result.returncode != 0:
        raise ServerError(f"{shard_image.INIT_SCRIPT.name} failed on {server.data_dir}: {result.stderr.strip()}")


def _refuse_if_running(outputs: Path) -> None:
    if not outputs.exists():
        return
    try:
        local = _local_section(outputs)
    except LocalEnvironmentError:
        raise LocalEnvironmentError(f"{outputs} exists and is not a local environment's document: "
                                    "move it away or choose another --outputs") from None
    alive = [server for server in _servers(local) if server.is_running()]
    if alive:
        where = ", ".join(f"127.0.0.1:{server.port}" for server in alive)
        raise LocalEnvironmentError(f"a local environment is already up for {outputs} (servers at {where}): "
                                    "use it, or stop it first with `make down`")
    down(outputs)


def _local_section(outputs: Path) -> dict:
    try:
        local = endpoints_module.load(outputs).extra.get("local")
    except EndpointsError as error:
        raise LocalEnvironmentError(str(error)) from None
    if not isinstance(local, dict) or "servers" not in local:
        raise LocalEnvironmentError(f"{outputs} has no 'local' section: it was not written by `make up`")
    return local


def _servers(local: dict) -> list[PostgresServer]:
    binaries = Path(local["binaries"])
    return [PostgresServer(binaries, Path(entry["data_dir"]), entry["port"]) for entry in local["servers"].values()]


def _stop_all(servers) -> None:
    for server in servers:
        try:
            server.stop()
        except ServerError as error:
            print(f"warning: {error}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m snapthunder.localenv", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="start one PostgreSQL server per shard and write the endpoints document")
    start.add_argument("--shards", default=str(DEFAULT_SHARDS), help="shard count (1-25) or per-chromosome")
    start.add_argument("--outputs", type=Path, default=DEFAULT_OUTPUTS, help="endpoints document to write")
    start.add_argument("--data-dir", type=Path, help="where the servers keep their data (default: beside OUTPUTS)")
    start.add_argument("--compilation", default=DEFAULT_COMPILATION, help="compilation name served (default gtex)")
    start.add_argument("--no-fsync", action="store_true", help="throwaway servers: faster, not crash-safe")
    stop = commands.add_parser("down", help="stop what `up` started and remove its data")
    stop.add_argument("--outputs", type=Path, default=DEFAULT_OUTPUTS, help="endpoints document of the environment")
    arguments = parser.parse_args(argv)
    try:
        if arguments.command == "up":
            environment = up(arguments.shards, arguments.outputs, arguments.data_dir,
                             arguments.compilation, durable=not arguments.no_fsync)
            for shard in environment.shards.values():
                print(f"{shard.name}: 127.0.0.1:{shard.port}  {' '.join(shard.chromosomes)}")
            print(f"endpoints document: {arguments.outputs}   (stop with `make down`)")
        elif not down(arguments.outputs):
            print(f"no local environment at {arguments.outputs}: nothing to stop")
        return 0
    except PlanError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (LocalEnvironmentError, ServerError, EndpointsError, psycopg2.Error, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
