"""The API as deployed: the real front and gunicorn (started by the local environment) over HTTP.

What only a real server shows: a 300 k-row answer streams while the
workers' memory stays flat; many clients at once all get correct answers; a
shard stopped for real gives 503s naming it on its chromosomes while the
other shards keep answering, a stream it was feeding ends with the error
marker, and it is used again once it is back. The shard-down test runs last
and restarts the shard whatever happens, so later tests find it up.
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from snapthunder.postgres_server import PostgresServer

pytest.register_assert_rewrite("tests.api_fixtures")
from tests.api_fixtures import COMPILATION, expected_tsv, random_query  # noqa: E402 (registered first)
from tests.conftest import child_processes  # noqa: E402

pytest_plugins = ["tests.api_fixtures"]

READ_BYTES = 1 << 16
MEMORY_GROWTH_BOUND_KIB = 24 * 1024


def fetch(base: str, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(base + path, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def resident_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def test_the_local_environment_serves_the_api_and_logs_each_request(api_environment):
    assert api_environment.api_url == f"http://127.0.0.1:{api_environment.extra['local']['api']['port']}"
    status, body = fetch(api_environment.api_url, f"/{COMPILATION}/snaptron?regions=chr2:1-500000&fields=rc")
    assert status == 200 and int(body) > 0
    time.sleep(0.2)
    log_lines = Path(api_environment.extra["local"]["api"]["log"]).read_text().splitlines()
    entries = [json.loads(line) for line in log_lines if line.startswith('{"event": "request"')]
    [entry] = [entry for entry in entries if entry["query"] == "regions=chr2:1-500000&fields=rc"]
    assert entry["status"] == 200 and entry["outcome"] == "complete" and entry["duration_ms"] > 0


def test_a_300k_row_answer_streams_with_flat_worker_memory(api_environment, api_dataset):
    base, master = api_environment.api_url, api_environment.extra["local"]["api"]["pid"]
    with ThreadPoolExecutor(8) as pool:  # warm every worker: imports, pools, first queries
        list(pool.map(lambda _: fetch(base, f"/{COMPILATION}/snaptron?regions=chr1:1-200000"), range(16)))
    baseline = {pid: resident_kib(pid) for pid in child_processes(master)}   # gunicorn's workers
    peaks = dict(baseline)
    streaming = threading.Event()

    def sample() -> None:
        while not streaming.is_set():
            for pid in peaks:
                peaks[pid] = max(peaks[pid], resident_kib(pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    rows = received = 0
    tail = b""
    try:
        with urllib.request.urlopen(f"{base}/{COMPILATION}/snaptron?rfilter=length>:0", timeout=120) as response:
            while chunk := response.read(READ_BYTES):
                rows += chunk.count(b"\n")
                received += len(chunk)
                tail = (tail + chunk)[-300:]
                time.sleep(0.0005)
    finally:
        streaming.set()
        sampler.join()
    assert rows == len(api_dataset.reference.junctions) + 1 and not tail.splitlines()[-1].startswith(b"#")
    growth = max(peaks[pid] - baseline[pid] for pid in baseline)
    assert received > 50 * 1024 * 1024
    assert growth < MEMORY_GROWTH_BOUND_KIB, f"a worker grew by {growth} KiB while streaming {received} bytes"


def test_many_clients_at_once_all_get_exact_answers(api_environment, api_dataset):
    generator = random.Random(7)
    queries = [random_query(generator, api_dataset.reference) for _ in range(40)]
    expected = {text: expected_tsv(api_dataset.reference, text) for text in queries}
    work = queries * 4
    random.Random(8).shuffle(work)
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda text: (text, fetch(api_environment.api_url,
                                                          f"/{COMPILATION}/snaptron?{text}")), work))
    wrong = [text for text, (status, body) in answers if status != 200 or body != expected[text]]
    assert not wrong, f"{len(wrong)} of {len(work)} answers differ, e.g. {wrong[0]}"


def test_a_stopped_shard_gives_503s_naming_it_the_others_keep_answering_and_it_comes_back(
        api_environment, api_dataset):
    base, local = api_environment.api_url, api_environment.extra["local"]
    plan = api_environment.plan()
    name = plan.shard_for("chr1")
    shard = api_environment.shards[name]
    other = next(c for c in ("chr2", "chr3", "chr4", "chr5") if plan.shard_for(c) != name)
    server = PostgresServer(Path(local["binaries"]), Path(local["servers"][name]["data_dir"]), shard.port)
    try:
        with urllib.request.urlopen(f"{base}/{COMPILATION}/snaptron?regions=chr1:1-25000000", timeout=60) as stream:
            first = stream.read(READ_BYTES)
            server.stop()
            rest = stream.read()
        last = (first + rest).decode().splitlines()[-1]
        assert last.startswith(f"#ERROR 503 {shard.describe()} is unavailable"), last[:300]

        status, body = fetch(base, f"/{COMPILATION}/snaptron?regions=chr1:1000-50000")
        assert status == 503 and body.startswith(f"#ERROR 503 {shard.describe()} is unavailable")
        assert all(chromosome in body for chromosome in shard.chromosomes)
        status, body = fetch(base, f"/{COMPILATION}/snaptron?regions=chr1:1000-50000&format=json")
        assert status == 503 and json.loads(body)["error"]["message"].startswith(shard.describe())
        assert fetch(base, f"/{COMPILATION}/snaptron?rfilter=samples_count>:9000")[0] == 503

        text = f"regions={other}:1-3000000"
        assert fetch(base, f"/{COMPILATION}/snaptron?{text}") == (200, expected_tsv(api_dataset.reference, text))
        # The pod can still serve the other shards: ready for Kubernetes, the lost shard shown in the body.
        status, body = fetch(base, "/readyz")
        document = json.loads(body)
        readiness = {entry["shard"]: entry for entry in document["shards"]}
        assert status == 200 and document["ready"] and not document["all_shards_ready"]
        assert (document["shards_ready"], document["shards_total"]) == (len(readiness) - 1, len(readiness))
        assert not readiness[name]["ready"] and "unavailable" in readiness[name]["error"]
        assert all(entry["ready"] for shard_name, entry in readiness.items() if shard_name != name)
    finally:
        server.start()
    text = "regions=chr1:1000-50000"
    for _ in range(4):  # every worker, with connections that died with the server
        assert fetch(base, f"/{COMPILATION}/snaptron?{text}") == (200, expected_tsv(api_dataset.reference, text))
    assert fetch(base, "/readyz")[0] == 200
