"""`--port-forward` against a fake kubectl (the Kubernetes API cannot run here).

The fake is an executable named `kubectl` first on PATH: it checks the
arguments `forwarded` passes, records them, then listens on the requested
local port and answers each connection with the Service it stands for, as a
real forward would reach that Service. A Service named in FAKE_KUBECTL_FAIL
fails the way kubectl does when a Service does not exist; with
FAKE_KUBECTL_HANG set, the fake never listens, like a forward to a pod that
never becomes ready.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from snapthunder.endpoints import Credentials, Endpoints, Shard
from snapthunder.port_forward import PortForwardError, forwarded

FAKE_KUBECTL = textwrap.dedent(f"""\
    #!{sys.executable}
    import json, os, signal, socket, sys
    arguments = sys.argv[1:]
    assert arguments[:5] == ["port-forward", "--namespace", "snapthunder-dev", "--address", "127.0.0.1"], arguments
    service, ports = arguments[5], arguments[6]
    local_port, remote_port = ports.split(":")
    with open(os.environ["FAKE_KUBECTL_LOG"], "a") as log:
        log.write(json.dumps({{"pid": os.getpid(), "arguments": arguments}}) + "\\n")
    if service.removeprefix("svc/") in os.environ.get("FAKE_KUBECTL_FAIL", "").split(","):
        print(f'Error from server (NotFound): services "{{service[4:]}}" not found', file=sys.stderr)
        sys.exit(1)
    if os.environ.get("FAKE_KUBECTL_HANG"):
        signal.pause()
    listener = socket.create_server(("127.0.0.1", int(local_port)))
    while True:
        connection, _ = listener.accept()
        connection.sendall(f"{{service}}:{{remote_port}}".encode())
        connection.close()
""")


@pytest.fixture
def kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put the fake kubectl first on PATH; returns its log of invocations."""
    bin_directory = tmp_path / "bin"
    bin_directory.mkdir()
    script = bin_directory / "kubectl"
    script.write_text(FAKE_KUBECTL)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "kubectl.log"
    log.touch()
    monkeypatch.setenv("PATH", f"{bin_directory}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_KUBECTL_LOG", str(log))
    return log


def stack_endpoints(with_kubernetes: bool = True) -> Endpoints:
    """An endpoints document as a dev stack exports it (in-cluster hosts)."""
    shards = {
        name: Shard(name, f"snapthunder-{name}.snapthunder-dev.svc.cluster.local", 5432, "snapthunder",
                    "snapthunder_loader", f"secret-{name}", chromosomes)
        for name, chromosomes in (("shard-0", ("chr1", "chr2")), ("shard-1", ("chr3", "chrM")))
    }
    extra = {"kubernetes": {
        "namespace": "snapthunder-dev",
        "shards": {name: {"service": f"snapthunder-{name}", "port": 5432} for name in shards},
        "ui": {"service": "snapthunder-ui", "port": 80},
    }} if with_kubernetes else {}
    return Endpoints("gtex", shards, Credentials("snapthunder_reader", "secret-reader"), "shard-1",
                     "http://snapthunder-ui.snapthunder-dev.svc.cluster.local:80", extra)


def answer(port: int) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        return connection.recv(100).decode()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_forwards_every_shard_and_the_ui_and_rewrites_the_document(kubectl: Path) -> None:
    original = stack_endpoints()
    with forwarded(original) as local:
        for name, shard in local.shards.items():
            assert shard.host == "127.0.0.1"
            assert answer(shard.port) == f"svc/snapthunder-{name}:5432"
            assert (shard.user, shard.password, shard.chromosomes) == (
                original.shards[name].user, original.shards[name].password, original.shards[name].chromosomes)
        assert local.api_url is not None and local.api_url.startswith("http://127.0.0.1:")
        assert answer(int(local.api_url.rsplit(":", 1)[1])) == "svc/snapthunder-ui:80"
        assert local.reader == original.reader and local.extra == original.extra
        assert len({shard.port for shard in local.shards.values()}) == len(local.shards)
        pids = [json.loads(line)["pid"] for line in kubectl.read_text().splitlines()]
        assert len(pids) == 3 and all(alive(pid) for pid in pids)
    assert not any(alive(pid) for pid in pids), "every kubectl stops when the block ends"


def test_without_the_ui(kubectl: Path) -> None:
    with forwarded(stack_endpoints(), include_ui=False) as local:
        assert local.api_url == stack_endpoints().api_url
    assert len(kubectl.read_text().splitlines()) == 2


def test_a_failed_forward_names_the_shard_and_stops_the_others(kubectl: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_KUBECTL_FAIL", "snapthunder-shard-1")
    expected = r"shard-1 .*svc/snapthunder-shard-1.*services \"snapthunder-shard-1\" not found"
    with pytest.raises(PortForwardError, match=expected):
        with forwarded(stack_endpoints()):
            pytest.fail("the block must not run")
    pids = [json.loads(line)["pid"] for line in kubectl.read_text().splitlines()]
    assert pids and not any(alive(pid) for pid in pids)


def test_a_forward_that_never_listens_times_out(kubectl: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_KUBECTL_HANG", "1")
    with pytest.raises(PortForwardError, match=r"cannot forward shard-0 \(svc/snapthunder-shard-0\): local port \d+ "
                                                r"did not accept connections within 0.5 s"):
        with forwarded(stack_endpoints(), timeout=0.5):
            pytest.fail("the block must not run")
    pids = [json.loads(line)["pid"] for line in kubectl.read_text().splitlines()]
    assert len(pids) == 3 and not any(alive(pid) for pid in pids)


def test_missing_kubectl_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PortForwardError, match=r"cannot forward shard-0: --port-forward needs kubectl on PATH"):
        with forwarded(stack_endpoints()):
            pytest.fail("the block must not run")


def test_a_document_without_the_kubernetes_key_is_refused(kubectl: Path) -> None:
    with pytest.raises(PortForwardError, match="'kubernetes' key"):
        with forwarded(stack_endpoints(with_kubernetes=False)):
            pytest.fail("the block must not run")
