"""`--port-forward`: reach a cluster's shards and API from this machine through kubectl.

A stack deployed by infra/ gives in-cluster addresses (`snapthunder-shard-0.
snapthunder.svc.cluster.local`), which a laptop cannot resolve, and its UI may
be ClusterIP only. `forwarded(endpoints)` runs one `kubectl port-forward
-n NAMESPACE svc/NAME LOCALPORT:PORT` per shard and one for the UI, using the
document's `kubernetes` key, waits until every local port accepts connections,
and yields the same document with hosts and ports (and `api_url`) rewritten to
127.0.0.1. Every kubectl it started is stopped when the block ends:

    with forwarded(endpoints.from_stack("dev")) as local:
        load(local, ...)

The loader and the bench offer it as `--stack NAME --port-forward`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import socket
import subprocess
import tempfile
import time
from typing import IO, Any, Iterator, Mapping

from snapthunder.endpoints import Endpoints

LOCALHOST = "127.0.0.1"
UI_TARGET = "the UI"


class PortForwardError(Exception):
    """A forward could not be started or did not come up; the message names the shard or service."""


@dataclasses.dataclass
class _Forward:
    target: str
    service: str
    remote_port: int
    local_port: int
    process: subprocess.Popen[bytes]
    errors: IO[bytes]

    def error_text(self) -> str:
        self.errors.seek(0)
        lines = self.errors.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"kubectl exited with status {self.process.returncode}"


@contextlib.contextmanager
def forwarded(endpoints: Endpoints, timeout: float = 30.0, include_ui: bool = True) -> Iterator[Endpoints]:
    """Forward every shard (and the UI) to local ports for the duration of the block."""
    cluster = _kubernetes_section(endpoints)
    targets = {shard: cluster["shards"][shard] for shard in endpoints.shards}
    if include_ui and "ui" in cluster:
        targets[UI_TARGET] = cluster["ui"]
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        first = next(iter(targets))
        raise PortForwardError(f"cannot forward {first}: --port-forward needs kubectl on PATH, configured for the "
                               "stack's cluster (https://kubernetes.io/docs/tasks/tools/)")
    forwards: list[_Forward] = []
    try:
        for target, local_port in zip(targets, _free_ports(len(targets))):
            forwards.append(_start(kubectl, cluster["namespace"], target, targets[target], local_port))
        deadline = time.monotonic() + timeout
        for forward in forwards:
            _wait_until_listening(forward, deadline, timeout)
        yield _rewritten(endpoints, {forward.target: forward.local_port for forward in forwards})
    finally:
        for forward in forwards:
            _stop(forward)


def _kubernetes_section(endpoints: Endpoints) -> Mapping[str, Any]:
    cluster = endpoints.extra.get("kubernetes")
    if not isinstance(cluster, dict) or "namespace" not in cluster or not isinstance(cluster.get("shards"), dict):
        raise PortForwardError("--port-forward needs the document's 'kubernetes' key (namespace and each shard's "
                               "Service), which stacks deployed by infra/ export; this document has none")
    missing = [shard for shard in endpoints.shards if shard not in cluster["shards"]]
    if missing:
        raise PortForwardError(f"cannot forward {', '.join(missing)}: no Service for it under 'kubernetes.shards'")
    return cluster


def _free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 now (all held open together, so they differ); kubectl binds them next."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((LOCALHOST, 0))
        return [sock.getsockname()[1] for sock in sockets]


def _start(kubectl: str, namespace: str, target: str, service: Mapping[str, Any], local_port: int) -> _Forward:
    errors = tempfile.TemporaryFile()
    command = [kubectl, "port-forward", "--namespace", namespace, "--address", LOCALHOST,
               f"svc/{service['service']}", f"{local_port}:{service['port']}"]
    # kubectl prints a line per connection: discard it rather than let an unread pipe fill and stall kubectl.
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors)
    return _Forward(target, str(service["service"]), int(service["port"]), local_port, process, errors)


def _wait_until_listening(forward: _Forward, deadline: float, timeout: float) -> None:
    while True:
        if forward.process.poll() is not None:
            raise PortForwardError(f"cannot forward {forward.target} (svc/{forward.service} port "
                                   f"{forward.remote_port}): kubectl port-forward failed: {forward.error_text()}")
        with contextlib.suppress(OSError), socket.create_connection((LOCALHOST, forward.local_port), timeout=1):
            return
        if time.monotonic() > deadline:
            raise PortForwardError(f"cannot forward {forward.target} (svc/{forward.service}): local port "
                                   f"{forward.local_port} did not accept connections within {timeout:g} s")
        time.sleep(0.05)


def _stop(forward: _Forward) -> None:
    if forward.process.poll() is None:
        forward.process.terminate()
        try:
            forward.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            forward.process.kill()
            forward.process.wait()
    forward.errors.close()


def _rewritten(endpoints: Endpoints, local_ports: Mapping[str, int]) -> Endpoints:
    shards = {name: dataclasses.replace(shard, host=LOCALHOST, port=local_ports[name])
              for name, shard in endpoints.shards.items()}
    api_url = f"http://{LOCALHOST}:{local_ports[UI_TARGET]}" if UI_TARGET in local_ports else endpoints.api_url
    return dataclasses.replace(endpoints, shards=shards, api_url=api_url)
