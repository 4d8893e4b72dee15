"""The service workload: random Snaptron queries through the API, closed loop, 1, 8 and 32 clients.

Each client is a thread with its own connection that sends the next query as
soon as the previous answer has been read to its end, for a fixed duration:
overlap regions of 1 kb–2 Mb anywhere in the genome (chromosomes drawn by
length), half with an `rfilter`, some with `sids`. The queries come from a
seeded generator, so every run and every server gets the same sequence.

The same load goes to the original design's way of serving: the server
`--baseline-url` names, or else one the workload starts for the run
(`bench.api_vs_original`: one more PostgreSQL server holding the compilation,
the original SQL, fetchall, JSON) and stops at its end. Both get their URLs from
the one `ApiClient`, so they are asked exactly the same queries. Before the
timed levels, the first few queries of the sequence go to every server and
their row counts are kept (`ServiceAnswer`), so a run shows that the servers
compared gave the same answers. Without an `api_url` in the endpoints document
there is nothing to load, and the workload says so instead of failing.
"""

from __future__ import annotations

import dataclasses
import math
import random
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import numpy

from bench.api_client import ApiClient, ApiError
from bench.api_vs_original import serving_original
from bench.measure import progress_bar
from snapthunder.plan import GRCH38_LENGTHS

CLIENT_LEVELS = (1, 8, 32)
SHORTEST_REGION = 1_000
LONGEST_REGION = 2_000_000
FILTER_SHARE = 0.5
FILTER_THRESHOLDS = (2, 10, 50, 100)
SIDS_SHARE = 0.1
MOST_SIDS = 20
SEED = 5
ERRORS_KEPT = 3
SAMPLE_QUERIES = 8


@dataclasses.dataclass(frozen=True)
class ServiceRow:
    server: str
    clients: int
    requests: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    requests_per_second: float
    bytes_per_second: float
    seconds: float


@dataclasses.dataclass(frozen=True)
class ServiceAnswer:
    """How many rows one server answered one sample query with: the servers compared must agree."""

    query: str
    server: str
    rows: int


@dataclasses.dataclass
class ServiceResult:
    rows: list[ServiceRow]
    notes: list[str]
    answers: list[ServiceAnswer] = dataclasses.field(default_factory=list)


def run(api_url: str | None, baseline_url: str | None, compilation: str, sample_total: int, seconds: float,
        progress: bool, junctions: Path, work_dir: Path) -> ServiceResult:
    """Load the API and the original design's serving alike; without `baseline_url`, start the latter here.

    `junctions` is the compilation the original design's server loads, in its
    own directory under `work_dir`; it is stopped before this returns.
    """
    if not api_url:
        return ServiceResult([], ["service skipped: the endpoints document has no `api_url` (start the API, or "
                                  "deploy it, and run again); its goals are not measured."])
    if baseline_url:
        return _measure({"snapthunder": api_url, "original": baseline_url}, compilation, sample_total, seconds,
                        progress)
    # Said always: the loader's summary line that follows would otherwise read as a reload of the shards.
    print("service: starting the original design's server to compare against (one more PostgreSQL, the whole "
          "compilation in one table; its load prints a line below), stopped when the workload ends", file=sys.stderr)
    with serving_original(work_dir, junctions) as original_url:
        result = _measure({"snapthunder": api_url, "original": original_url}, compilation, sample_total, seconds,
                          progress)
    result.notes.insert(0, "original: the original design's serving, started for this run (bench.api_vs_original: "
                           "one PostgreSQL server, a new connection per request, the original SQL, fetchall, "
                           "rfilter and sids in Python, JSON).")
    return result


def _measure(servers: dict[str, str], compilation: str, sample_total: int, seconds: float,
             progress: bool) -> ServiceResult:
    """Every server at every client level, interleaved so that machine noise hits them alike."""
    answers = sample_answers(servers, compilation, sample_total)
    notes = []
    rows = []
    with progress_bar(len(servers) * len(CLIENT_LEVELS), "service", progress) as bar:
        for clients in CLIENT_LEVELS:
            for server, url in servers.items():
                row, errors = _closed_loop(server, url, compilation, clients, seconds, sample_total)
                rows.append(row)
                notes += [f"{server}, {clients} clients: {message}" for message in errors]
                bar.update()
    return ServiceResult(rows, notes, answers)


def sample_answers(servers: dict[str, str], compilation: str, sample_total: int) -> list[ServiceAnswer]:
    """The row counts of the first `SAMPLE_QUERIES` queries of the sequence, from every server.

    A failed query counts -1 rows, which no correct server answers, so a
    failure shows as a disagreement rather than stopping the run.
    """
    queries = random_queries(SEED, sample_total)
    samples = [next(queries) for _ in range(SAMPLE_QUERIES)]
    answers = []
    for server, url in servers.items():
        connection = ApiClient(url, compilation)
        try:
            answers += [ServiceAnswer(_shown(query), server, _row_count(connection, query)) for query in samples]
        finally:
            connection.close()
    return answers


def _row_count(connection: ApiClient, query: dict[str, str]) -> int:
    try:
        return connection.snaptron(query).data_lines
    except ApiError:
        return -1


def _shown(query: dict[str, str]) -> str:
    return "&".join(f"{name}={value}" for name, value in query.items())


def random_queries(seed: int, sample_total: int) -> Iterator[dict[str, str]]:
    """An endless, seeded sequence of Snaptron query parameters."""
    generator = random.Random(seed)
    names = list(GRCH38_LENGTHS)
    weights = list(GRCH38_LENGTHS.values())
    while True:
        chromosome = generator.choices(names, weights)[0]
        size = GRCH38_LENGTHS[chromosome]
        length = min(size, round(10 ** generator.uniform(math.log10(SHORTEST_REGION), math.log10(LONGEST_REGION))))
        start = generator.randint(1, size - length + 1)
        parameters = {"regions": f"{chromosome}:{start}-{start + length - 1}"}
        if generator.random() < FILTER_SHARE:
            parameters["rfilter"] = f"samples_count>:{generator.choice(FILTER_THRESHOLDS)}"
        if generator.random() < SIDS_SHARE:
            chosen = generator.sample(range(sample_total), min(sample_total, generator.randint(1, MOST_SIDS)))
            parameters["sids"] = ",".join(map(str, sorted(chosen)))
        yield parameters


def _closed_loop(server: str, url: str, compilation: str, clients: int, seconds: float,
                 sample_total: int) -> tuple[ServiceRow, list[str]]:
    """Run `clients` closed-loop clients for `seconds`; the row and the first few error messages."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    body_bytes = [0] * clients
    errors: list[str] = []
    error_count = [0] * clients
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client(number: int) -> None:
        connection = ApiClient(url, compilation)
        queries = random_queries(SEED * 1000 + number, sample_total)
        start.wait()
        try:
            while time.perf_counter() < deadline[0]:
                began = time.perf_counter()
                try:
                    response = connection.snaptron(next(queries))
                except ApiError as error:
                    error_count[number] += 1
                    if len(errors) < ERRORS_KEPT:
                        errors.append(str(error))
                    continue
                latencies[number].append(time.perf_counter() - began)
                body_bytes[number] += response.body_bytes
        finally:
            connection.close()

    threads = [threading.Thread(target=client, args=(number,), daemon=True) for number in range(clients)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    deadline[0] = began + seconds
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    answered = numpy.array([latency for per_client in latencies for latency in per_client]) * 1000
    p50, p95, p99 = numpy.percentile(answered, (50, 95, 99)) if answered.size else (math.nan,) * 3
    requests = int(answered.size) + sum(error_count)
    row = ServiceRow(server, clients, requests, sum(error_count), float(p50), float(p95), float(p99),
                     requests / elapsed, sum(body_bytes) / elapsed, elapsed)
    return row, errors
