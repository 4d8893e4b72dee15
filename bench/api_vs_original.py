"""The API against the original design's way of answering, side by side through HTTP, in one run.

    python -m bench.api_vs_original [--scale 1.0] [--work-dir DIR] [--seconds 10]

It builds everything it measures, on this machine: a GTEx-like compilation at
the paper's density (snapthunder.synthetic), a local environment of 4 shards
with the API (gunicorn, its default settings), and — the original design — one
more PostgreSQL server holding every chromosome in one table with a btree on
(chromosome, start, end), served by a minimal Flask app under the same
gunicorn settings that, per request, opens a new connection, runs the
original SQL, `fetchall()`s the rows into Python and turns them into JSON.

Three workloads, each on both peers, interleaved so that machine noise hits
both alike:

* gene-sized overlap regions (10–100 kb, anywhere in the genome, and again only
  where the compilation has GTEx's density): median latency;
* the same regions from 8 concurrent clients for a fixed time: requests/s, errors;
* the paper's chr1:1–25,000,000 window (start >= 1, end <= 25 Mb): time to the
  whole answer (the API's TSV, the original's JSON).

Goals (issue 3): ≥ 5× faster median, ≥ 300 requests/s with 0 errors, ≥ 1.5×
faster 25 Mb delivery. Everything it started is stopped at the end.
"""

from __future__ import annotations

import argparse
import http.client
import contextlib
import json
import operator
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import psycopg2
from flask import Flask, Response, request

from loaders.cli import main as load
from snapthunder import localenv
from snapthunder.plan import GRCH38_LENGTHS
from snapthunder.postgres_server import free_port
from snapthunder.query import QueryError, RangeFilter, Region, parse, split_query_string
from snapthunder.synthetic import generate

ORIGINAL_SETTINGS = "ORIGINAL_CONNECT_ARGUMENTS"
PAPER_WINDOW_END = 25_000_000
PAUSE_SECONDS = 0.01
GOALS = {"median_speedup": 5.0, "requests_per_second": 300.0, "window_speedup": 1.5}
MAX_ITEMS = 1000
COMPARISONS = {"=": operator.eq, "<>": operator.ne, ">=": operator.ge, "<=": operator.le, ">": operator.gt,
               "<": operator.lt}


def original_app() -> Flask:
    """The original design's service: a new connection, the original SQL, fetchall, JSON.

    It speaks the API's URL (`/{compilation}/snaptron`, any compilation name:
    it holds one) and the service workload's parameters: one region
    (`contains=1` too), `rfilter` and `sids`. Like the original design, the
    database only selects the region; the projection on `sids` and the range
    filters are done in Python on the fetched rows.
    """
    arguments = json.loads(os.environ[ORIGINAL_SETTINGS])
    app = Flask("original")

    @app.get("/<compilation>/snaptron")
    def snaptron(compilation: str) -> Response:
        try:
            query = parse(split_query_string(request.query_string), MAX_ITEMS)
        except QueryError as error:
            return Response(f"{error}\n", status=400, mimetype="text/plain")
        (selection,) = query.selections
        (region,) = selection.regions
        rows = _projected(_region_rows(arguments, region, selection.contains), query.sids)
        return Response(_json_lines([row for row in rows if _passes(row, selection.filters)]),
                        mimetype="application/json")

    return app


def _region_rows(arguments: dict, region: Region, contains: bool) -> list[dict]:
    """The original SQL on a new connection, every row fetched into Python as a dict of its columns."""
    if contains:
        statement = ('SELECT * FROM intron WHERE chromosome = %s AND start >= %s AND start <= %s AND "end" <= %s '
                     'ORDER BY chromosome, start, "end"')
        parameters = (region.chromosome, region.start, region.end, region.end)
    else:
        statement = ('SELECT * FROM intron WHERE chromosome = %s AND "end" >= %s AND start <= %s '
                     'ORDER BY chromosome, start, "end"')
        parameters = (region.chromosome, region.start, region.end)
    connection = psycopg2.connect(**arguments)
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement, parameters)
            names = [column.name for column in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]
    finally:
        connection.close()


def _projected(rows: list[dict], sids: tuple[int, ...]) -> list[dict]:
    """Snaptron's `sids=` projection: each row's wanted samples and their statistics; rows with none dropped.

    The statistics are those of project_samples (04-query.sql), which the API
    uses: the mean, and the median as the mean of the middle two.
    """
    if not sids:
        return rows
    wanted = set(sids)
    projected = []
    for row in rows:
        entries = [(sid, reads) for sid, reads in (map(int, item.split(":")) for item in row["samples"][1:].split(","))
                   if sid in wanted]
        if entries:
            counts = [reads for _, reads in entries]
            projected.append(dict(row, samples="".join(f",{sid}:{reads}" for sid, reads in entries),
                                  samples_count=len(counts), coverage_sum=sum(counts),
                                  coverage_avg=statistics.mean(counts),
                                  coverage_median=float(statistics.median(counts))))
    return projected


def _passes(row: dict, filters: tuple[RangeFilter, ...]) -> bool:
    """Every range filter holds on the row (numbers, strand, annotated: a plain comparison of the column)."""
    return all(COMPARISONS[rule.operator](row[rule.field], rule.value) for rule in filters)


def _json_lines(rows: list[dict]) -> str:
    """A JSON array of the rows' values, one row per line after the first: a client counting lines counts rows.

    The API's TSV is a header line and a line per row; `[` + a line per row
    + `]` has the same count of newlines, so the service workload's client
    counts the answers of both servers the same way.
    """
    return "[" + ",".join("\n" + json.dumps(list(row.values()), default=float) for row in rows) + "]\n"


class Client:
    """One keep-alive HTTP connection; `get` returns (status, body bytes, seconds to the last byte)."""

    def __init__(self, base_url: str) -> None:
        host, port = base_url.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=300)

    def get(self, path: str) -> tuple[int, bytes, float]:
        started = time.perf_counter()
        try:
            self.connection.request("GET", path)
            response = self.connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            self.connection.close()
            return 0, b"", time.perf_counter() - started
        return response.status, body, time.perf_counter() - started


def gene_regions(count: int, seed: int = 3, dense_only: bool = False) -> list[str]:
    """Random 10–100 kb regions, chromosomes drawn by length, as the genome's genes are spread.

    The generated compilation has GTEx's real density only on chr1:1–25 Mb (the
    paper's windows) and a thin background elsewhere, to stay small; with
    `dense_only` the regions are drawn there, where scans cost what they cost
    on a real compilation everywhere.
    """
    generator = random.Random(seed)
    names = [name for name in GRCH38_LENGTHS if name != "chrM"]
    weights = [GRCH38_LENGTHS[name] for name in names]
    regions = []
    for _ in range(count):
        chromosome = "chr1" if dense_only else generator.choices(names, weights)[0]
        width = generator.randint(10_000, 100_000)
        end_of_range = PAPER_WINDOW_END if dense_only else GRCH38_LENGTHS[chromosome]
        start = generator.randint(1, end_of_range - width)
        regions.append(f"{chromosome}:{start}-{start + width}")
    return regions


def latencies(peers: dict[str, str], paths: dict[str, list[str]]) -> dict[str, list[float]]:
    """Each request once per peer, alternating peers request by request.

    A short pause before each request lets the other peer's after-work (the
    original design's server process exiting after each connection) finish,
    so each latency is that of one request on a quiet machine.
    """
    clients = {name: Client(url) for name, url in peers.items()}
    seconds: dict[str, list[float]] = {name: [] for name in peers}
    for index in range(len(next(iter(paths.values())))):
        for name, client in clients.items():
            time.sleep(PAUSE_SECONDS)
            status, _, elapsed = client.get(paths[name][index])
            if status != 200:
                raise RuntimeError(f"{name}: {paths[name][index]} answered {status}")
            seconds[name].append(elapsed)
    return seconds


def throughput(base_url: str, paths: list[str], clients: int, duration: float) -> tuple[float, int, int]:
    """(requests/s, completed, errors) with `clients` threads looping over `paths` for `duration` s."""
    completed, errors = [0] * clients, [0] * clients
    stop = time.monotonic() + duration

    def run(worker: int) -> None:
        client = Client(base_url)
        generator = random.Random(worker)
        while time.monotonic() < stop:
            status, _, _ = client.get(generator.choice(paths))
            if status == 200:
                completed[worker] += 1
            else:
                errors[worker] += 1
                client = Client(base_url)

    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(worker,)) for worker in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return sum(completed) / elapsed, sum(completed), sum(errors)


def start_original(work_dir: Path, junctions: Path) -> tuple[dict, subprocess.Popen, str]:
    """One server, one table of every chromosome, and the original app under gunicorn.

    Its environment is `original_outputs(work_dir)`: `localenv.down` it when
    done, also when this raises (`serving_original` does both).
    """
    outputs = original_outputs(work_dir)
    environment = localenv.up(shards=1, outputs=outputs, data_dir=work_dir / "original" / "data",
                              durable=False, start_api=False)
    if load([str(junctions), "--outputs", str(outputs), "--quiet", "--rejects", str(work_dir / "rejects.tsv")]):
        raise RuntimeError("loading the original design's table failed")
    shard = next(iter(environment.shards.values()))
    port = free_port()
    arguments = shard.connect_arguments(environment.reader, environment.compilation)
    settings = dict(os.environ, **{ORIGINAL_SETTINGS: json.dumps(arguments)},
                    PYTHONPATH=str(localenv.REPOSITORY))
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "8",
         "--worker-class", "gthread", "bench.api_vs_original:original_app()"],
        env=settings, cwd=localenv.REPOSITORY, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{url}{_snaptron_path('chr1:1-2')}", timeout=2).read()
            return {"outputs": outputs}, process, url
        except OSError:
            time.sleep(0.1)
    _stop(process)
    raise RuntimeError("the original design's app did not start")


def original_outputs(work_dir: Path) -> Path:
    """Where the original design's environment is described: known before it starts, to stop it if starting fails."""
    return work_dir / "original" / "endpoints.json"


@contextlib.contextmanager
def serving_original(work_dir: Path, junctions: Path) -> Iterator[str]:
    """The original design's server for the `with` block (its URL), stopped and removed at the end, however it ends."""
    try:
        _, process, url = start_original(work_dir, junctions)
        try:
            yield url
        finally:
            _stop(process)
    finally:
        localenv.down(original_outputs(work_dir))


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    process.wait(30)


def run(scale: float, work_dir: Path, seconds: float, regions_count: int) -> dict:
    compilation = generate(work_dir / "compilation", scale=scale)
    api_outputs = work_dir / "api" / "endpoints.json"
    api = localenv.up(shards=4, outputs=api_outputs, data_dir=work_dir / "api" / "data", durable=False)
    try:
        if load([str(compilation.junctions_path), "--outputs", str(api_outputs), "--quiet",
                 "--rejects", str(work_dir / "rejects.tsv")]):
            raise RuntimeError("loading the shards failed")
        with serving_original(work_dir, compilation.junctions_path) as original_url:
            peers = {"api": api.api_url, "original": original_url}
            paths = _paths(gene_regions(regions_count))
            dense_paths = _paths(gene_regions(regions_count, dense_only=True))
            latencies(peers, {name: found[:20] for name, found in paths.items()})  # warm caches and pools
            gene = latencies(peers, paths)
            dense = latencies(peers, dense_paths)
            rates = {name: throughput(url, paths[name], 8, seconds) for name, url in peers.items()}
            window = latencies(peers, _paths([f"chr1:1-{PAPER_WINDOW_END}&contains=1"] * 3))
    finally:
        localenv.down(api_outputs)
    return summarize(compilation.row_count, gene, dense, rates, window)


def _paths(regions: list[str]) -> dict[str, list[str]]:
    """The same URLs for both peers: the original app speaks the API's."""
    paths = [_snaptron_path(region) for region in regions]
    return {"api": paths, "original": paths}


def _snaptron_path(region: str) -> str:
    return f"/{localenv.DEFAULT_COMPILATION}/snaptron?regions={region}"


def summarize(rows: int, gene: dict, dense: dict, rates: dict, window: dict) -> dict:
    median = {name: statistics.median(values) * 1000 for name, values in gene.items()}
    dense_median = {name: statistics.median(values) * 1000 for name, values in dense.items()}
    window_median = {name: statistics.median(values) for name, values in window.items()}
    results = {
        "rows": rows,
        "gene_median_ms": median, "gene_median_speedup": median["original"] / median["api"],
        "dense_gene_median_ms": dense_median,
        "dense_gene_median_speedup": dense_median["original"] / dense_median["api"],
        "requests_per_second": {name: rate for name, (rate, _, _) in rates.items()},
        "errors": {name: errors for name, (_, _, errors) in rates.items()},
        "window_seconds": window_median, "window_speedup": window_median["original"] / window_median["api"],
    }
    results["goals_met"] = {
        "median_speedup": results["gene_median_speedup"] >= GOALS["median_speedup"],
        "dense_median_speedup": results["dense_gene_median_speedup"] >= GOALS["median_speedup"],
        "requests_per_second": (results["requests_per_second"]["api"] >= GOALS["requests_per_second"]
                                and results["errors"]["api"] == 0),
        "window_speedup": results["window_speedup"] >= GOALS["window_speedup"],
    }
    return results


def report(results: dict) -> str:
    met = {name: "met" if ok else "MISSED" for name, ok in results["goals_met"].items()}
    return "\n".join([
        f"compilation: {results['rows']:,} junctions",
        "| workload | API | original design | ratio | goal |",
        "|---|---|---|---|---|",
        f"| gene-sized region, median | {results['gene_median_ms']['api']:.1f} ms | "
        f"{results['gene_median_ms']['original']:.1f} ms | {results['gene_median_speedup']:.1f}x | "
        f">= 5x: {met['median_speedup']} |",
        f"| gene-sized region in chr1:1-25 Mb (GTEx density), median | "
        f"{results['dense_gene_median_ms']['api']:.1f} ms | {results['dense_gene_median_ms']['original']:.1f} ms | "
        f"{results['dense_gene_median_speedup']:.1f}x | >= 5x: {met['dense_median_speedup']} |",
        f"| 8 clients, requests/s (errors) | {results['requests_per_second']['api']:.0f} "
        f"({results['errors']['api']}) | {results['requests_per_second']['original']:.0f} "
        f"({results['errors']['original']}) | "
        f"{results['requests_per_second']['api'] / results['requests_per_second']['original']:.1f}x | "
        f">= 300/s, 0 errors: {met['requests_per_second']} |",
        f"| chr1:1-25,000,000 whole answer | {results['window_seconds']['api']:.2f} s | "
        f"{results['window_seconds']['original']:.2f} s | {results['window_speedup']:.1f}x | "
        f">= 1.5x: {met['window_speedup']} |",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.api_vs_original", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="compilation density (default 1.0: the paper's)")
    parser.add_argument("--work-dir", type=Path, help="where data and servers live (default: a new temp dir)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each throughput run")
    parser.add_argument("--regions", type=int, default=200, help="gene-sized regions timed one by one")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    arguments = parser.parse_args(argv)
    work_dir = arguments.work_dir or Path(tempfile.mkdtemp(prefix="snapthunder-api-bench-", dir="/dev/shm"
                                                           if os.access("/dev/shm", os.W_OK) else None))
    work_dir.mkdir(parents=True, exist_ok=True)
    work_dir.chmod(0o755)
    try:
        results = run(arguments.scale, work_dir, arguments.seconds, arguments.regions)
    finally:
        if arguments.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)
    print(report(results))
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
