"""The local environment: a deployment on one machine, with no cluster.

`up` starts one real PostgreSQL server per shard of the plan on 127.0.0.1,
initialises each with the shard image's own init script and SQL, writes the
endpoints document in the same shape as the Pulumi stack outputs, so loaders,
the API and the bench run unchanged against it, and starts the API (gunicorn
behind its HTTP front, nginx, as in the UI pod, on free loopback ports; the
front's address is the document's `api_url`). `down`
stops every process `up` started and removes the data. What `down` needs
(data directory, servers, the API's process) is kept under the document's
`local` key. The compilations named (`--compilation`, repeatable; gtex by
default) are the document's `compilations`, each made, empty, on every shard
(its schema, by the loader's own code), so the API serves them at once; any
other compilation loaded later is served too.

    python -m snapthunder.localenv up [--shards N] [--compilation NAME[:DataSource[:genome]]]... [--outputs PATH]
    python -m snapthunder.localenv down [--outputs PATH]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg2
from psycopg2 import sql

from snapthunder import endpoints as endpoints_module
from snapthunder import shard_image
from snapthunder.compilations import CompilationError, parse_all
from snapthunder.endpoints import Credentials, Endpoints, EndpointsError
from snapthunder.plan import PlanError, plan_shards
from snapthunder.postgres_server import PostgresServer, ServerError, find_binaries, free_port, make_owned_directory

DEFAULT_OUTPUTS = Path(".snapthunder") / "endpoints.json"
DEFAULT_SHARDS = 4
DEFAULT_COMPILATION = "gtex"
REPOSITORY = Path(__file__).resolve().parent.parent
API_DIRECTORY = REPOSITORY / "images" / "ui"
API_CONFIG = API_DIRECTORY / "gunicorn.conf.py"
API_APPLICATION = "snapthunder_api:create_app()"
API_START_SECONDS = 30.0
API_STOP_SECONDS = 15.0


class LocalEnvironmentError(RuntimeError):
    """The environment cannot be brought up or down; the message says what to do."""


def up(
    shards: int | str = DEFAULT_SHARDS,
    outputs: Path = DEFAULT_OUTPUTS,
    data_dir: Path | None = None,
    compilations: tuple[str, ...] = (DEFAULT_COMPILATION,),
    durable: bool = True,
    start_api: bool = True,
) -> Endpoints:
    """Start the servers of a plan (and the API), and write the endpoints document to `outputs`.

    `compilations` are spelled `name[:DataSource[:genome]]`.

    `durable=False` turns off fsync: for throwaway test environments only.
    `start_api=False` starts the databases only.
    """
    plan = plan_shards(shards)
    served = parse_all(compilations)
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
        served, plan,
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
    try:
        _make_compilations(environment)
    except BaseException:
        down(outputs)
        raise
    if not start_api:
        return environment
    try:
        document["local"]["api"] = _start_api(outputs, root)
    except BaseException:
        down(outputs)
        raise
    document["api_url"] = f"http://127.0.0.1:{document['local']['api']['port']}"
    environment = Endpoints.from_document(document, str(outputs))
    endpoints_module.save(environment, outputs)
    return environment


def _make_compilations(environment: Endpoints) -> None:
    """Each configured compilation's schema on every shard, empty: an empty load of each, by the loader's code."""
    from loaders.two_phase import Load   # the loader's package: localenv runs from a checkout, where both are

    for compilation in environment.compilations.values():
        with Load(environment, compilation) as load:
            load.commit()


def down(outputs: Path = DEFAULT_OUTPUTS) -> bool:
    """Stop everything `up` started for `outputs` and remove its data; False if nothing was up."""
    outputs = Path(outputs).absolute()
    if not outputs.exists():
        return False
    local = _local_section(outputs)
    if "api" in local:
        _stop_api(local["api"])
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
    secrets_dir = _password_files(server.data_dir.parent / "secrets" / server.data_dir.name, {
        shard_image.SUPERUSER_PASSWORD_FILE: superuser_password,
        shard_image.LOADER_PASSWORD_FILE: loader.password,
        shard_image.READER_PASSWORD_FILE: reader.password,
    })
    environment = dict(os.environ, PGHOST="127.0.0.1", PGPORT=str(server.port), PGPASSWORD=superuser_password,
                       PATH=f"{server.binaries}{os.pathsep}{os.environ.get('PATH', '')}")
    environment.update(shard_image.init_environment(str(secrets_dir), str(shard_image.SQL_DIR)))
    result = subprocess.run(["sh", str(shard_image.INIT_SCRIPT)], env=environment, capture_output=True, text=True)
    if result.returncode != 0:
        raise ServerError(f"{shard_image.INIT_SCRIPT.name} failed on {server.data_dir}: {result.stderr.strip()}")


def _password_files(directory: Path, passwords: dict[str, str]) -> Path:
    """The passwords as files readable by their owner only, as the cluster mounts its Secrets."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name, password in passwords.items():
        with open(os.open(directory / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
            handle.write(password)
    return directory


def _start_api(outputs: Path, root: Path) -> dict:
    """The API as the UI pod runs it: gunicorn behind the HTTP front, on free loopback ports, detached.

    Both write to `api.log`, readable by its owner only (every query string is in it).
    """
    port, app_port = free_port(), free_port()
    log_path = root / "api.log"
    # The image's PYTHONPATH (images/ui/Dockerfile): the API imports without an installed package.
    python_path = os.pathsep.join(filter(None, [str(REPOSITORY), str(API_DIRECTORY), os.environ.get("PYTHONPATH")]))
    environment = dict(os.environ, PYTHONPATH=python_path, SNAPTHUNDER_ENDPOINTS=str(outputs),
                       SNAPTHUNDER_BIND=f"127.0.0.1:{port}", SNAPTHUNDER_APP_BIND=f"127.0.0.1:{app_port}")
    commands = {
        "pid": [sys.executable, "-m", "gunicorn", "--config", str(API_CONFIG), API_APPLICATION],
        "front_pid": [sys.executable, "-m", "snapthunder_api.front_end", str(root / "front" / "nginx.conf")],
    }
    api: dict = {"port": port, "app_port": app_port, "log": str(log_path)}
    processes = {}
    try:
        with open(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as log:
            for key, command in commands.items():
                processes[key] = subprocess.Popen(command, env=environment, stdin=subprocess.DEVNULL, stdout=log,
                                                  stderr=subprocess.STDOUT, start_new_session=True)
                api[key] = processes[key].pid
        deadline = time.monotonic() + API_START_SECONDS
        while time.monotonic() < deadline and all(process.poll() is None for process in processes.values()):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    return api
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
    except BaseException:   # interrupted (Ctrl-C) or a start that failed: the detached processes must not stay
        _stop_api(api)
        raise
    exited = [key for key, process in processes.items() if process.poll() is not None]
    _stop_api(api)
    tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
    what = f"{' and '.join('gunicorn' if key == 'pid' else 'the front' for key in exited)} exited" if exited else \
        f"it did not answer /healthz within {API_START_SECONDS:g} s"
    raise LocalEnvironmentError(f"the API (its front on 127.0.0.1:{port}, gunicorn on 127.0.0.1:{app_port}) did not "
                                f"start: {what}; its log, {log_path}, ends with:\n{tail}")


def _stop_api(api: dict) -> None:
    """SIGTERM to the front's and gunicorn's process groups, SIGKILL to what lingers."""
    for pid in (api[key] for key in ("front_pid", "pid") if key in api):
        for signal_number in (signal.SIGTERM, signal.SIGKILL):
            if not _is_api_process(pid):
                break
            try:
                os.killpg(pid, signal_number)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + API_STOP_SECONDS
            while time.monotonic() < deadline and _is_api_process(pid):
                time.sleep(0.05)
        if _is_api_process(pid):
            print(f"warning: the API's process {pid} survived SIGKILL", file=sys.stderr)


def _is_api_process(pid: int) -> bool:
    """True while `pid` is a live gunicorn or nginx (reaping it first when it is our exited child)."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            command = cmdline.read()
        with open(f"/proc/{pid}/stat", "rb") as stat:
            running = stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False
    return running and any(name in command for name in (b"gunicorn", b"nginx", b"snapthunder_api.front_end"))


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


def _what_down_stops(outputs: Path) -> str:
    """The line `make down` prints, read from the document before `down` removes it: silence looked like failure."""
    local = _local_section(outputs.absolute())
    ports = ", ".join(f"127.0.0.1:{entry['port']}" for entry in local["servers"].values())
    api = f" and the API (pid {local['api']['pid']}, port {local['api']['port']})" if "api" in local else ""
    return (f"stopped {len(local['servers'])} PostgreSQL servers ({ports}){api}; "
            f"removed {local['root']} and {outputs}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m snapthunder.localenv", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="start one PostgreSQL server per shard and write the endpoints document")
    start.add_argument("--shards", default=str(DEFAULT_SHARDS), help="shard count (1-25) or per-chromosome")
    start.add_argument("--outputs", type=Path, default=DEFAULT_OUTPUTS, help="endpoints document to write")
    start.add_argument("--data-dir", type=Path, help="where the servers keep their data (default: beside OUTPUTS)")
    start.add_argument("--compilation", action="append", metavar="NAME[:DataSource[:genome]]",
                       help=f"a compilation served, made empty on every shard (repeat for several; "
                            f"default {DEFAULT_COMPILATION}); others loaded later are served too")
    start.add_argument("--no-fsync", action="store_true", help="throwaway servers: faster, not crash-safe")
    start.add_argument("--no-api", action="store_true", help="start the databases only, not the API")
    stop = commands.add_parser("down", help="stop what `up` started and remove its data")
    stop.add_argument("--outputs", type=Path, default=DEFAULT_OUTPUTS, help="endpoints document of the environment")
    arguments = parser.parse_args(argv)
    try:
        if arguments.command == "up":
            environment = up(arguments.shards, arguments.outputs, arguments.data_dir,
                             tuple(arguments.compilation or (DEFAULT_COMPILATION,)), durable=not arguments.no_fsync,
                             start_api=not arguments.no_api)
            for shard in environment.shards.values():
                print(f"{shard.name}: 127.0.0.1:{shard.port}  {' '.join(shard.chromosomes)}")
            if environment.api_url:
                print(f"API and page: {environment.api_url}/")
            print(f"endpoints document: {arguments.outputs}   (stop with `make down`)")
        elif not Path(arguments.outputs).exists():
            print(f"no local environment at {arguments.outputs}: nothing to stop")
        else:
            stopped = _what_down_stops(Path(arguments.outputs))
            down(arguments.outputs)
            print(stopped)
        return 0
    except (PlanError, CompilationError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (LocalEnvironmentError, ServerError, EndpointsError, psycopg2.Error, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
