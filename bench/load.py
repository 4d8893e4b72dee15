"""The load workload: the loader's rows/s and time-to-queryable for 1, 2 and 4 shards, against raw COPY.

The floor is PostgreSQL alone taking the same decompressed bytes on one server
the way the loader's shards take them (begin_table_load(), then
`COPY intron_staging FROM STDIN (FREEZE)` in one transaction, committed), with
no reading, decompression, checking or routing: what the loader would reach if
it cost nothing. A second floor goes on to what the loader also does before
its data can be queried (finish_table_load(): indexes, table swap, ANALYZE;
commit; VACUUM, as 03-load.sql prescribes), so time-to-queryable has a
like-for-like limit too.
The loader's own figure is always time-to-queryable: load + index + analyze.

Every contender gets its own throwaway servers from the local environment's
code (1, 2 and 4 shards, with fsync as `make up` has it), inside the run's
scratch directory (bench.runner); all of them are stopped when the workload ends. The floors
use the one-shard environment's server. Input sizes ¼ and ½ are every 4th and
every 2nd line of the file (bgzipped like it), so every chromosome, and every
shard, stays in them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
from pathlib import Path

import psycopg2
import pysam

from bench import BenchError
from bench.compilation import Compilation
from bench.measure import progress_bar, side_by_side
from loaders.pipeline import load_junctions
from snapthunder import localenv
from snapthunder.endpoints import Endpoints, Shard

SHARD_COUNTS = (1, 2, 4)
FRACTIONS = (0.25, 0.5, 1.0)
RAW_COPY = "raw_copy"
RAW_COPY_QUERYABLE = "raw_copy_queryable"
LOADER = "loader"
COPY_BUFFER = 1 << 18


@dataclasses.dataclass(frozen=True)
class LoadRow:
    fraction: float
    contender: str
    shards: int
    rows: int
    median_seconds: float
    runs: int
    rows_per_second: float
    share_of_copy_floor: float
    share_of_queryable_floor: float


@dataclasses.dataclass(frozen=True)
class Input:
    """One input size: the bgzipped file the loader reads and the decompressed bytes raw COPY takes."""

    fraction: float
    path: Path
    lines: bytes
    rows: int


def run(compilation: Compilation, scratch: Path, runs: int, progress: bool) -> list[LoadRow]:
    inputs = _inputs(compilation, scratch)
    with pysam.TabixFile(str(compilation.junctions_path)) as tabix:
        chromosomes = sorted(tabix.contigs)
    with _environments(scratch) as environments:
        floor_shard = next(iter(environments[1].shards.values()))
        rows = []
        with progress_bar(len(inputs) * (2 + len(SHARD_COUNTS)) * (runs + 1), "load", progress) as bar:
            for source in inputs:
                contenders = {
                    (RAW_COPY, 1): functools.partial(_raw_copy, floor_shard, source, None),
                    (RAW_COPY_QUERYABLE, 1): functools.partial(_raw_copy, floor_shard, source, chromosomes),
                    **{(LOADER, count): functools.partial(_loader, environments[count], source, scratch)
                       for count in SHARD_COUNTS},
                }
                timings = side_by_side(contenders, runs, bar)
                copy_floor = timings[(RAW_COPY, 1)].median
                queryable_floor = timings[(RAW_COPY_QUERYABLE, 1)].median
                rows += [
                    LoadRow(source.fraction, contender, shards, source.rows, timing.median, len(timing.seconds),
                            source.rows / timing.median, copy_floor / timing.median, queryable_floor / timing.median)
                    for (contender, shards), timing in timings.items()
                ]
    return rows


def _inputs(compilation: Compilation, scratch: Path) -> list[Input]:
    """The file and its ¼ and ½ (every 4th and 2nd line), each as a bgzipped file and as raw bytes."""
    everything = compilation.decompressed()
    lines = everything.splitlines(keepends=True)
    inputs = []
    for fraction in FRACTIONS:
        if fraction == 1.0:
            inputs.append(Input(fraction, compilation.junctions_path, everything, len(lines)))
            continue
        kept_lines = lines[::round(1 / fraction)]
        kept = b"".join(kept_lines)
        text_path = scratch / f"junctions-{fraction:g}.tsv"
        text_path.write_bytes(kept)
        compressed = scratch / f"junctions-{fraction:g}.bgz"
        pysam.tabix_compress(str(text_path), str(compressed), force=True)
        text_path.unlink()
        inputs.append(Input(fraction, compressed, kept, len(kept_lines)))
    return inputs


@contextlib.contextmanager
def _environments(scratch: Path):
    """One local environment per shard count, all stopped on the way out whatever happened."""
    started: dict[int, Endpoints] = {}
    try:
        for count in SHARD_COUNTS:
            outputs = scratch / f"shards-{count}.json"
            started[count] = localenv.up(count, outputs, scratch / f"shards-{count}", start_api=False)
        yield started
    finally:
        for count in started:
            localenv.down(scratch / f"shards-{count}.json")


def _raw_copy(shard: Shard, source: Input, chromosomes: list[str] | None) -> int:
    """COPY the bytes as a load does; with `chromosomes`, go on to queryable as a load does."""
    connection = psycopg2.connect(**shard.connect_arguments(compilation=localenv.DEFAULT_COMPILATION))
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT begin_table_load('intron')")
            cursor.copy_expert("COPY intron_staging FROM STDIN (FREEZE)", io.BytesIO(source.lines), COPY_BUFFER)
            if chromosomes is not None:
                cursor.execute("SELECT finish_table_load('intron', 'chromosome_stats', %s, %s, %s)",
                               (chromosomes, str(source.path), "bench"))
        connection.commit()
        connection.autocommit = True
        with connection.cursor() as cursor:
            if chromosomes is None:
                cursor.execute("DROP TABLE intron_staging")
            else:
                cursor.execute("VACUUM intron")
    finally:
        connection.close()
    return source.rows


def _loader(environment: Endpoints, source: Input, scratch: Path) -> int:
    summary = load_junctions(str(source.path), environment, rejects_path=scratch / "load.rejects.tsv")
    if summary.rejected:
        raise BenchError(f"the loader rejected {summary.rejected:,} lines of {source.path}: "
                         f"see {summary.rejects_path}")
    return summary.rows_loaded
