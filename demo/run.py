"""The demo: local shards up, a GTEx-like compilation generated and loaded, queried.

Each step is the same code a user runs by hand (`make up`, `python -m
snapthunder.synthetic`, `python -m loaders`), so the demo shows the real path.
It reuses what is already there: servers that are up, and a generated
compilation whose parameters match; the servers stay up for exploring.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from pathlib import Path

import psycopg2

from loaders.pipeline import RejectsFile, load_junctions
from loaders.samples import load_samples
from snapthunder import endpoints as endpoints_module
from snapthunder import localenv, synthetic
from snapthunder.endpoints import Endpoints, EndpointsError

DEFAULT_DATA = Path(".snapthunder") / "gtex-like"
# A few regions to count: the paper's smallest and largest windows and a gene-sized one.
EXAMPLE_REGIONS = (("chr1", 1, 2_500_000), ("chr1", 1, 25_000_000), ("chr2", 1_000_000, 1_100_000))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--shards", default=str(localenv.DEFAULT_SHARDS), help="shard count for a new environment")
    parser.add_argument("--outputs", type=Path, default=localenv.DEFAULT_OUTPUTS, help="endpoints document")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="where the compilation is generated")
    parser.add_argument("--scale", type=float, default=1.0, help="compilation density (1 = the paper's chr1)")
    arguments = parser.parse_args(argv)
    started = time.monotonic()
    environment = _environment(arguments.shards, arguments.outputs)
    junctions, samples_tsv = _compilation(arguments.data, arguments.scale)
    _step(f"loading {junctions} into {len(environment.shards)} shards")
    summary = load_junctions(str(junctions), environment, arguments.data / "rejects.tsv", progress=sys.stderr.isatty())
    samples = load_samples(str(samples_tsv), environment, RejectsFile(arguments.data / "samples-rejects.tsv"))
    print(f"loaded {summary.rows_loaded:,} junctions in {summary.seconds:.1f} s "
          f"({summary.rows_loaded / summary.seconds:,.0f} rows/s), {samples:,} samples, {summary.rejected} rejected")
    _show_shards(environment)
    _show_regions(environment)
    print(f"\ndemo finished in {time.monotonic() - started:.0f} s. The shards stay up: "
          f"endpoints in {arguments.outputs}; stop everything with `make down`.")
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
        _step(f"starting {shards} local shards (`make up`)")
        return localenv.up(shards, outputs)


def _compilation(directory: Path, scale: float) -> tuple[Path, Path]:
    """(junctions, samples) paths: generated unless `directory` holds a compilation of the same parameters."""
    marker = directory / "parameters.json"
    parameters = {"scale": scale, "seed": synthetic.DEFAULT_SEED}
    junctions, samples = directory / synthetic.JUNCTIONS_FILE, directory / synthetic.SAMPLES_FILE
    if marker.exists() and json.loads(marker.read_text()) == parameters and junctions.exists() and samples.exists():
        _step(f"reusing the compilation in {directory}")
        return junctions, samples
    _step(f"generating a GTEx-like compilation at scale {scale} in {directory}")
    synthetic.generate(directory, scale=scale, seed=synthetic.DEFAULT_SEED, progress=sys.stderr.isatty())
    marker.write_text(json.dumps(parameters))
    return junctions, samples


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
    print(f"\nthe page: {environment.api_url}/")


def _count(url: str) -> int:
    """The count a `fields=rc` query answers (TSV: a header line, then the number)."""
    with urllib.request.urlopen(url, timeout=60) as response:
        return int(response.read().decode().split()[-1])


def _step(message: str) -> None:
    print(f"==> {message}", flush=True)
