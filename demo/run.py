"""The demo: local shards and the API up, a GTEx-like compilation loaded, queried, benchmarked.

Each step is the same code a user runs by hand (`make up`, `python -m
loaders`, `python -m bench`), so the demo shows the real path. It reuses what
is already there (servers that are up, a compilation already generated) and
leaves the servers and the API up for exploring until `make down`.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.request
from pathlib import Path

import psycopg2

from bench import cli as bench_cli
from bench import compilation as bench_compilation
from loaders.pipeline import load_junctions
from loaders.rejects import RejectsFile
from loaders.samples import SamplesFile
from snapthunder import endpoints as endpoints_module
from snapthunder import localenv
from snapthunder.endpoints import Endpoints, EndpointsError

# A few regions to count: the paper's smallest and largest windows and a gene-sized one.
EXAMPLE_REGIONS = (("chr1", 1, 2_500_000), ("chr1", 1, 25_000_000), ("chr2", 1_000_000, 1_100_000))
# The benchmark part of the demo: three of the paper's ten windows and short service levels,
# so the whole demo stays within 10 minutes on 2 cores; `make bench` runs everything.
DEMO_BENCH = ("--workloads", "paper,service", "--windows", "2.5,10,25", "--service-seconds", "5")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--shards", default=str(localenv.DEFAULT_SHARDS), help="shard count for a new environment")
    parser.add_argument("--outputs", type=Path, default=localenv.DEFAULT_OUTPUTS, help="endpoints document")
    parser.add_argument("--no-bench", action="store_true", help="stop after loading and querying")
    arguments = parser.parse_args(argv)
    started = time.monotonic()
    progress = sys.stderr.isatty()
    environment = _environment(arguments.shards, arguments.outputs)
    scale = bench_compilation.FULL_SCALE
    _step("the GTEx-like compilation at the paper's density (generated once, then reused)")
    compilation = bench_compilation.prepare(bench_compilation.default_directory(scale), scale, progress)
    _step(f"loading {compilation.junctions_path} into {len(environment.shards)} shards (`python -m loaders`)")
    samples_rejects = RejectsFile(compilation.directory / "samples.rejects.tsv")
    samples_file = SamplesFile(str(compilation.samples_path), environment.compilation, samples_rejects)
    try:
        summary = load_junctions(str(compilation.junctions_path), environment,
                                 compilation.directory / "junctions.rejects.tsv", progress=progress,
                                 samples=samples_file)
    finally:
        samples_rejects.close()
    samples = samples_file.rows
    print(f"loaded {summary.rows_loaded:,} junctions in {summary.seconds:.1f} s "
          f"({summary.rows_loaded / summary.seconds:,.0f} rows/s), {samples:,} samples, {summary.rejected} rejected")
    _show_shards(environment)
    _show_regions(environment)
    if not arguments.no_bench:
        _step("benchmark (`python -m bench " + " ".join(DEMO_BENCH) + "`)")
        status = bench_cli.main(["--outputs", str(arguments.outputs), *DEMO_BENCH])
        if status:
            return status
    if environment.api_url:
        print(f"\nthe page: {environment.api_url}/")
    print(f"demo finished in {time.monotonic() - started:.0f} s. Everything stays up "
          f"(endpoints: {arguments.outputs}); stop it with `make down`.")
    return 0


def _environment(shards: str, outputs: Path) -> Endpoints:
    """The running local environment at `outputs`, or a new one."""
    try:
        existing = endpoints_module.load(outputs)
        for shard in existing.shards.values():
            psycopg2.connect(**shard.connect_arguments()).close()
        _step(f"reusing the local environment in {outputs}")
        return existing
    except (EndpointsError, psycopg2.Error):
        _step(f"starting {shards} local shards and the API (`make up`)")
        return localenv.up(shards, outputs)


def _show_shards(environment: Endpoints) -> None:
    print("\nper shard:")
    for shard in environment.shards.values():
        with psycopg2.connect(**shard.connect_arguments(environment.reader)) as connection:
            with connection.cursor() as cursor:
                cursor.execute("SELECT coalesce(sum(row_count), 0), count(*) FROM chromosome_stats")
                rows, chromosomes = cursor.fetchone()
        connection.close()
        print(f"  {shard.name:<12} 127.0.0.1:{shard.port:<6} {rows:>10,} junctions on {chromosomes} sequences")


def _show_regions(environment: Endpoints) -> None:
    """Count a few regions through the API, as a Snaptron client would ask."""
    if not environment.api_url:
        print("\n(no API in this environment: start it with `make down && make up` to query over HTTP)")
        return
    base = f"{environment.api_url}/{environment.compilation}/snaptron"
    print(f"\nexample queries through the API ({base}):")
    for chromosome, start, end in EXAMPLE_REGIONS:
        region = f"regions={chromosome}:{start}-{end}&contains=1&fields=rc"
        everything = _count(f"{base}?{region}")
        frequent = _count(f"{base}?{region}&rfilter=samples_count>:100")
        print(f"  {chromosome}:{start:,}-{end:,}: {everything:,} junctions inside, {frequent:,} of them in >= 100 samples")
    print(f"  e.g. curl '{base}?regions=chr1:11000-20000'")


def _count(url: str) -> int:
    """The count a `fields=rc` query answers (TSV: a header line, then the number)."""
    with urllib.request.urlopen(url, timeout=60) as response:
        return int(response.read().decode().split()[-1])


def _step(message: str) -> None:
    print(f"==> {message}", flush=True)
