"""Shards that die or freeze under the API: every answer ends within a bound, naming the shard.

Real servers, real signals: a shard's backend killed with SIGKILL in the
middle of a COPY (no goodbye message reaches the client), and a whole shard
frozen with SIGSTOP (its kernel still acknowledges packets, so nothing but a
client-side deadline can notice). The app runs in-process with a 1 s
statement timeout, so each bound is a few seconds; every frozen shard is
resumed in a `finally`, whatever the test did.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Iterator

import psycopg2
import pytest

pytest.register_assert_rewrite("tests.api_fixtures")
from tests.api_fixtures import COMPILATION, expected_tsv  # noqa: E402 (registered first)

from snapthunder_api import create_app
from tests.conftest import child_processes

pytest_plugins = ["tests.api_fixtures"]

TIMEOUT_SECONDS = 1.0
SILENT_FOR = "it sent nothing for 1.25 s"   # the watchdog's bound: 1.25 × the statement timeout
BOUND_SECONDS = 6.0                          # connect timeout (2 s, libpq's least) + silence + slack
BIG_REGION = "regions=chr1:1-25000000"


@pytest.fixture
def fault_client(api_environment):
    app = create_app({"endpoints": str(api_environment.extra["outputs"]),
                      "statement_timeout_seconds": TIMEOUT_SECONDS, "connect_timeout_seconds": 2})
    yield app.test_client()
    app.extensions["snapthunder"].close()


def server_processes(api_environment, shard_name: str) -> list[int]:
    """The shard's postmaster and every process it started."""
    data_dir = Path(api_environment.extra["local"]["servers"][shard_name]["data_dir"])
    postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    return [postmaster, *child_processes(postmaster)]


@contextlib.contextmanager
def frozen(api_environment, shard_name: str) -> Iterator[None]:
    processes = server_processes(api_environment, shard_name)
    for pid in processes:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in processes:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def copying_backends(api_environment, shard_name: str) -> list[int]:
    """The shard's backends running a COPY for the API's reader (their process titles say so)."""
    reader = api_environment.reader.user
    found = []
    for pid in server_processes(api_environment, shard_name)[1:]:
        with contextlib.suppress(OSError):
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if title.startswith(f"postgres: {reader} ") and " COPY" in title:
                found.append(pid)
    return found


def wait_until_it_answers(shard, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            psycopg2.connect(**{**shard.connect_arguments(), "connect_timeout": 2}).close()
            return
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def read_some(response, at_least: int) -> tuple[bytes, Iterator[bytes]]:
    chunks = iter(response.response)
    received = b""
    while len(received) < at_least:
        received += next(chunks)
    return received, chunks


def test_a_backend_killed_mid_stream_ends_the_answer_with_503_naming_the_shard(api_environment, fault_client):
    name = api_environment.plan().shard_for("chr1")
    shard = api_environment.shards[name]
    response = fault_client.get(f"/{COMPILATION}/snaptron?{BIG_REGION}", buffered=False)
    try:
        first, rest = read_some(response, 1 << 16)
        backends = copying_backends(api_environment, name)
        assert backends, "the answer's COPY must be running while its first chunks are read"
        for pid in backends:
            os.kill(pid, signal.SIGKILL)
        body = first + b"".join(rest)
    finally:
        response.close()
        wait_until_it_answers(shard)
    last = body.decode().splitlines()[-1]
    assert last.startswith(f"#ERROR 503 {shard.describe()} is unavailable"), last[:300]


def test_a_frozen_shard_is_a_503_naming_it_within_a_bound_and_is_used_again_after(
        api_environment, api_dataset, fault_client):
    plan = api_environment.plan()
    name = plan.shard_for("chr1")
    shard = api_environment.shards[name]
    other = next(c for c in ("chr2", "chr3", "chr4", "chr5") if plan.shard_for(c) != name)
    text = "regions=chr1:1000-50000"
    assert fault_client.get(f"/{COMPILATION}/snaptron?{text}").status_code == 200   # a pooled connection now
    with frozen(api_environment, name):
        started = time.monotonic()
        response = fault_client.get(f"/{COMPILATION}/snaptron?{text}")
        assert time.monotonic() - started < BOUND_SECONDS
        assert response.status_code == 503
        assert response.text.startswith(f"#ERROR 503 {shard.describe()} is unavailable ({SILENT_FOR}")

        started = time.monotonic()
        response = fault_client.get("/readyz")
        assert time.monotonic() - started < BOUND_SECONDS
        readiness = {entry["shard"]: entry for entry in json.loads(response.text)["shards"]}
        assert response.status_code == 200 and not readiness[name]["ready"]
        assert all(entry["ready"] for shard_name, entry in readiness.items() if shard_name != name)

        other_text = f"regions={other}:1-3000000"
        response = fault_client.get(f"/{COMPILATION}/snaptron?{other_text}")
        assert (response.status_code, response.text) == (200, expected_tsv(api_dataset.reference, other_text))
    response = fault_client.get(f"/{COMPILATION}/snaptron?{text}")
    assert (response.status_code, response.text) == (200, expected_tsv(api_dataset.reference, text))


def test_a_shard_frozen_mid_stream_ends_the_answer_within_a_bound(api_environment, fault_client):
    name = api_environment.plan().shard_for("chr1")
    shard = api_environment.shards[name]
    response = fault_client.get(f"/{COMPILATION}/snaptron?{BIG_REGION}", buffered=False)
    try:
        first, rest = read_some(response, 1 << 16)
        with frozen(api_environment, name):
            started = time.monotonic()
            body = first + b"".join(rest)
            assert time.monotonic() - started < BOUND_SECONDS
    finally:
        response.close()
    last = body.decode().splitlines()[-1]
    assert last.startswith(f"#ERROR 503 {shard.describe()} is unavailable ({SILENT_FOR}"), last[:300]


def test_an_answer_from_a_frozen_shard_that_the_client_leaves_closes_within_a_bound(api_environment, fault_client):
    name = api_environment.plan().shard_for("chr1")
    response = fault_client.get(f"/{COMPILATION}/snaptron?{BIG_REGION}", buffered=False)
    read_some(response, 1 << 16)
    with frozen(api_environment, name):
        started = time.monotonic()
        response.close()
        assert time.monotonic() - started < BOUND_SECONDS


def test_a_frozen_shard_never_connected_to_is_a_503_after_the_connect_timeout(api_environment, fault_client):
    name = api_environment.plan().shard_for("chr1")
    shard = api_environment.shards[name]
    with frozen(api_environment, name):
        started = time.monotonic()
        response = fault_client.get(f"/{COMPILATION}/snaptron?regions=chr1:1000-50000")
        assert time.monotonic() - started < BOUND_SECONDS
    assert response.status_code == 503 and response.text.startswith(f"#ERROR 503 {shard.describe()} is unavailable")


def test_a_small_read_from_a_frozen_shard_ends_at_the_request_deadline(api_environment):
    """Sample fields and the compilations served come from the first shard that answers: a frozen one is
    waited on until the request's 1 s deadline (here the 2 s connect timeout, the least wait of a small read),
    not for its 37.5 s silence bound (the default 30 s statement timeout)."""
    app = create_app({"endpoints": str(api_environment.extra["outputs"]), "request_seconds": 1.0,
                      "connect_timeout_seconds": 2})
    client = app.test_client()
    text = f"/{COMPILATION}/samples?sfilter=smts:brain"
    try:
        assert client.get(text).status_code == 200      # pooled connections now
        with frozen(api_environment, sorted(api_environment.shards)[0]):
            started = time.monotonic()
            response = client.get(text)
            assert time.monotonic() - started < 4
            fresh = create_app({"endpoints": str(api_environment.extra["outputs"]), "connect_timeout_seconds": 2})
            try:     # its list of the compilations served is read now, the frozen shard first: 2 s, not 37.5
                started = time.monotonic()
                readiness = fresh.test_client().get("/readyz").get_json()
                assert time.monotonic() - started < 6
                assert [shard["ready"] for shard in readiness["shards"]] == [False] + [True] * 3
            finally:
                fresh.extensions["snapthunder"].close()
        assert response.status_code == 504
        assert response.text.startswith("#ERROR 504 this request ran past its 1 s bound (request_seconds)")
        assert client.get(text).status_code == 200
    finally:
        app.extensions["snapthunder"].close()
