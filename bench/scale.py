"""`python -m bench.scale`: the service as the compilation grows from 1.5 M to GTEx's 31 M junctions.

    python -m bench.scale (--outputs PATH | --stack NAME [--port-forward])
                          [--sizes 1.5M,7.5M,31M] [--no-load] [--runs N] [--gene-queries N] [--results DIR] [--debug]

For each size, smallest first: the generated compilation (made once under
.snapthunder/bench-data/scale-1-background-B and reused; B is the background
density that gives the size, 10,000 per Mb for 31,258,105 junctions), loaded
into the target's shards with the loader (this REPLACES their data), then,
through the API:

* gene-sized overlap regions (10–100 kb) in chr1:1–25 Mb, whose density
  is the same at every size, and anywhere (chromosomes by length), whose
  density grows with the size: p50 and p99 of one client's requests;
* one sample genome-wide, `sids=17&fields=rc` and its rows (`sids=17`), side
  by side with the original design's `samples LIKE '%,17:%'` count, run as
  direct SQL on the same shards one after another (one server holding every
  row scans them all);
* the genome-wide rfilter counts `samples_count>:9000` and `coverage_sum>:1000000`.

Writes scale.csv, scale.png (latency against compilation size) and
report.md, whose goals section says met or missed for each of issue 12's
goals measured here. Heavy: the 31 M load alone takes minutes; run it
niced on a shared machine (`nice -n 10`).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path
from typing import Iterator

import psycopg2
from matplotlib.figure import Figure

from bench import compilation as compilation_module
from bench import report
from bench.api_client import ApiClient, ApiError
from bench.api_vs_original import gene_regions
from bench.measure import side_by_side
from loaders.pipeline import load_junctions
from loaders.shard_writer import ShardLoadError
from loaders.source import SourceError
from snapthunder.endpoints import Endpoints, EndpointsError
from snapthunder.targets import add_target_arguments, open_target

# Background junctions per Mb outside chr1:1-25 Mb that give each size (the generator's only knob for it).
SIZES = {"1.5M": 300.0, "7.5M": 2250.0, "31M": 10000.0}
SAMPLE = 17
SAMPLE_QUERIES = {"sample count (sids=17&fields=rc)": {"sids": str(SAMPLE), "fields": "rc"},
                  "sample rows (sids=17)": {"sids": str(SAMPLE)}}
ORIGINAL_SAMPLE_COUNT = "original design: samples LIKE '%,17:%' count"
FILTER_QUERIES = {"rfilter=samples_count>:9000&fields=rc": {"rfilter": "samples_count>:9000", "fields": "rc"},
                  "rfilter=coverage_sum>:1000000&fields=rc": {"rfilter": "coverage_sum>:1000000", "fields": "rc"}}
GENE_QUERIES = "gene-sized overlap regions (10-100 kb), chr1:1-25 Mb"
GENE_QUERIES_ANYWHERE = "gene-sized overlap regions (10-100 kb), anywhere"
DEFAULT_RUNS = 3
DEFAULT_GENE_QUERIES = 200
GENE_P50_FLATNESS = 1.3
SAMPLE_SPEEDUP = 20.0
SAMPLE_SECONDS = 0.5
FILTER_SECONDS = 1.0
DEFAULT_RESULTS = Path("bench-results")


@dataclasses.dataclass(frozen=True)
class ScaleRow:
    size: str
    junctions: int
    measure: str
    median_ms: float
    p99_ms: float
    answer: int          # rows (or the count) the last run answered


@dataclasses.dataclass(frozen=True)
class LoadFigure:
    size: str
    junctions: int
    seconds: float
    rows_per_second: float


class ScaleError(RuntimeError):
    """A size could not be measured: the message names the size and the query."""


def run(endpoints: Endpoints, sizes: list[str], runs: int, gene_queries: int, progress: bool,
        load: bool = True) -> Iterator[tuple[list[ScaleRow], LoadFigure | None]]:
    """Each size's figures as soon as they are measured (the 31 M load alone takes many minutes).

    Without `load`, the shards must already hold the one size named (a second
    look at what the last run loaded).
    """
    for size in sizes:
        if not load:
            junctions = _held_junctions(endpoints)
            yield _measure(endpoints, size, junctions, runs, gene_queries), None
            continue
        directory = compilation_module.default_directory(compilation_module.FULL_SCALE, SIZES[size])
        compilation = compilation_module.prepare(directory, compilation_module.FULL_SCALE, progress, SIZES[size])
        if progress:
            print(f"{size}: loading {compilation.junctions_path}...", file=sys.stderr)
        started = time.perf_counter()
        summary = load_junctions(str(compilation.junctions_path), endpoints, progress=progress)
        seconds = time.perf_counter() - started
        junctions = sum(summary.rows_per_shard.values())
        yield _measure(endpoints, size, junctions, runs, gene_queries), LoadFigure(size, junctions, seconds,
                                                                                   junctions / seconds)


def _measure(endpoints: Endpoints, size: str, junctions: int, runs: int, gene_queries: int) -> list[ScaleRow]:
    client = ApiClient(endpoints.api_url, endpoints.first_compilation)
    try:
        rows = [_gene_row(client, size, junctions, GENE_QUERIES, gene_regions(gene_queries, dense_only=True)),
                _gene_row(client, size, junctions, GENE_QUERIES_ANYWHERE, gene_regions(gene_queries))]
        contenders = {name: _api_call(client, parameters) for name, parameters in {**SAMPLE_QUERIES,
                                                                                    **FILTER_QUERIES}.items()}
        contenders[ORIGINAL_SAMPLE_COUNT] = lambda: _original_sample_count(endpoints)
        for name, timing in side_by_side(contenders, runs).items():
            rows.append(ScaleRow(size, junctions, name, 1000 * timing.median, 1000 * max(timing.seconds),
                                 timing.result))
    finally:
        client.close()
    answers = {row.measure: row.answer for row in rows}
    if answers[ORIGINAL_SAMPLE_COUNT] != answers[next(iter(SAMPLE_QUERIES))]:
        raise ScaleError(f"{size}: the API counted {answers[next(iter(SAMPLE_QUERIES))]} rows of sample {SAMPLE}, "
                         f"the original design's scan {answers[ORIGINAL_SAMPLE_COUNT]}: the answers must agree")
    return rows


def _gene_row(client: ApiClient, size: str, junctions: int, measure: str, regions: list[str]) -> ScaleRow:
    """p50 and p99 of the regions, each asked once after a warm-up pass; the answer is the median rows per region.

    In chr1:1-25 Mb the generator's density is GTEx's at every size (the
    paper's calibration), so the answers stay the same as the compilation
    grows and a flat p50 means the lookups do not slow down; anywhere else
    the background density grows with the size, and so do the answers.
    """
    for region in regions:  # warm-up: plans, caches, connections
        client.snaptron({"regions": region})
    seconds, answers = [], []
    for region in regions:
        started = time.perf_counter()
        answers.append(client.snaptron({"regions": region}).data_lines)
        seconds.append(time.perf_counter() - started)
    return ScaleRow(size, junctions, measure, 1000 * statistics.median(seconds), 1000 * _percentile(seconds, 0.99),
                    round(statistics.median(answers)))


def _api_call(client: ApiClient, parameters: dict[str, str]):
    counting = parameters.get("fields") == "rc"
    return lambda: (client.snaptron(parameters).count() if counting else client.snaptron(parameters).data_lines)


def _held_junctions(endpoints: Endpoints) -> int:
    total = 0
    for shard in endpoints.shards.values():
        with psycopg2.connect(**shard.connect_arguments(endpoints.reader)) as connection:
            with connection.cursor() as cursor:
                cursor.execute("SELECT coalesce(sum(row_count), 0) FROM chromosome_stats")
                total += cursor.fetchone()[0]
        connection.close()
    return total


def _original_sample_count(endpoints: Endpoints) -> int:
    """The original design's scan: every row's list searched for the sample, shard after shard."""
    total = 0
    for shard in endpoints.shards.values():
        with psycopg2.connect(**shard.connect_arguments(endpoints.reader)) as connection:
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM intron WHERE samples LIKE %s", (f"%,{SAMPLE}:%",))
                total += cursor.fetchone()[0]
        connection.close()
    return total


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def goals(rows: list[ScaleRow]) -> list[tuple[str, str, bool]]:
    """(goal, measured, met) for each of issue 12's goals this workload measures, at the sizes run."""
    by = {(row.size, row.measure): row for row in rows}
    sizes = list(dict.fromkeys(row.size for row in rows))
    first, last = sizes[0], sizes[-1]
    found = []
    if len(sizes) > 1:
        growth = by[last, GENE_QUERIES].median_ms / by[first, GENE_QUERIES].median_ms
        found.append((f"gene-query p50 flat (within {GENE_P50_FLATNESS:g}x) from {first} to {last} junctions",
                      " -> ".join(f"{by[size, GENE_QUERIES].median_ms:.1f} ms" for size in sizes)
                      + f" ({growth:.2f}x)", growth <= GENE_P50_FLATNESS))
    sample = by[last, next(iter(SAMPLE_QUERIES))]
    speedup = by[last, ORIGINAL_SAMPLE_COUNT].median_ms / sample.median_ms
    found.append((f"one sample genome-wide >= {SAMPLE_SPEEDUP:g}x the original scan, < {SAMPLE_SECONDS:g} s, "
                  f"at {last}", f"{sample.median_ms:.0f} ms vs {by[last, ORIGINAL_SAMPLE_COUNT].median_ms:.0f} ms "
                  f"({speedup:.0f}x)", speedup >= SAMPLE_SPEEDUP and sample.median_ms < 1000 * SAMPLE_SECONDS))
    for name in FILTER_QUERIES:
        found.append((f"{name} < {FILTER_SECONDS:g} s at {last}", f"{by[last, name].median_ms:.0f} ms",
                      by[last, name].median_ms < 1000 * FILTER_SECONDS))
    return found


def write(directory: Path, description: dict, rows: list[ScaleRow], loads: list[LoadFigure]) -> Path:
    report.write_csv(directory / "scale.csv", ScaleRow, rows)
    report.write_csv(directory / "scale_load.csv", LoadFigure, loads)
    plot(rows, directory / "scale.png")
    lines = [f"# Scale: {', '.join(dict.fromkeys(row.size for row in rows))} junctions", "",
             f"commit {description['commit']}, {description['started']}, medians of the kept runs", "",
             "| goal | measured | verdict |", "|---|---|---|"]
    lines += [f"| {goal} | {measured} | {'met' if met else 'missed'} |" for goal, measured, met in goals(rows)]
    lines += ["", "| size | junctions | measure | median ms | p99 / max ms | answer |", "|---|---|---|---|---|---|"]
    lines += [f"| {row.size} | {row.junctions:,} | {row.measure} | {row.median_ms:.1f} | {row.p99_ms:.1f} | "
              f"{row.answer:,} |" for row in rows]
    lines += ["", "| size | junctions | load s | rows/s |", "|---|---|---|---|"]
    lines += [f"| {load.size} | {load.junctions:,} | {load.seconds:.0f} | {load.rows_per_second:,.0f} |"
              for load in loads]
    lines += ["", "![latency against compilation size](scale.png)"]
    path = directory / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def plot(rows: list[ScaleRow], path: Path) -> None:
    """Median latency of each measure against junctions, log-log: a flat line is a query that does not grow."""
    figure = Figure(figsize=(8, 5))
    axis = figure.subplots()
    for measure in dict.fromkeys(row.measure for row in rows):
        points = [(row.junctions, row.median_ms) for row in rows if row.measure == measure]
        axis.plot(*zip(*points), marker="o", label=measure)
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("junctions in the compilation")
    axis.set_ylabel("median ms through the API")
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=7)
    figure.suptitle("latency against compilation size")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n\n")[0])
    add_target_arguments(parser)
    parser.add_argument("--sizes", type=_sizes, default=list(SIZES), metavar="LIST",
                        help=f"comma-separated, of {','.join(SIZES)} (default: all, smallest first)")
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help=f"kept runs per query (default {DEFAULT_RUNS})")
    parser.add_argument("--gene-queries", type=int, default=DEFAULT_GENE_QUERIES, metavar="N",
                        help=f"gene-sized regions per size (default {DEFAULT_GENE_QUERIES})")
    parser.add_argument("--no-load", action="store_true",
                        help="measure what the shards hold (one size, the one they were loaded with) instead of loading")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, metavar="DIR")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    try:
        arguments = parser.parse_args(argv)
    except SystemExit as stop:
        return int(stop.code or 0)
    if arguments.no_load and len(arguments.sizes) != 1:
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: --no-load measures one size: the one the shards hold", file=sys.stderr)
        return 2
    directory, description = report.start_run(arguments.results, argv, "bench.scale")
    rows: list[ScaleRow] = []
    loads: list[LoadFigure] = []
    try:
        with open_target(arguments) as endpoints:
            for size_rows, load in run(endpoints, arguments.sizes, arguments.runs, arguments.gene_queries,
                                       sys.stderr.isatty(), not arguments.no_load):
                rows += size_rows
                loads += [load] if load else []
                path = write(directory, description, rows, loads)
    except (ScaleError, ApiError, EndpointsError, SourceError, ShardLoadError, psycopg2.Error, OSError) as error:
        if arguments.debug:
            raise
        print(f"{parser.prog}: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 1
    print(f"report: {path}")
    for goal, measured, met in goals(rows):
        print(f"  {'met' if met else 'MISSED'}: {goal}: {measured}")
    return 0


def _sizes(text: str) -> list[str]:
    chosen = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in SIZES]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"{text!r}: choose from {','.join(SIZES)}")
    return [name for name in SIZES if name in chosen]


if __name__ == "__main__":
    sys.exit(main())
