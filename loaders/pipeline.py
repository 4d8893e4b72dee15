"""The junction load: read → check → route → COPY, with rejects and progress.

The file is read once, as a stream of ~1 MB blocks of whole lines. Blocks are
checked by `jobs` worker processes (checking is the loader's CPU cost; the
workers let it use every core while the shards parse their COPY streams), in
a bounded window so memory does not grow with the file, and their results
are taken back in file order. Each run of good lines goes to the writer of its
shard (created when the shard's first line arrives, so a shard the file does
not touch keeps its junctions); bad lines go to the rejects file with their
line number and reason and never stop the load. When the input ends every
shard builds its indexes. The compilation's gene and exon rows (genes.bgz,
exons.bgz: the junction columns, snapthunder/features.py) then go the same
way into their own tables, on the same transactions, one file after another
(a shard's connection serves one COPY at a time). The samples, genes and
annotations (if any) are written in each shard's transaction, and only when
all are ready are they prepared and committed (two_phase.py): a failure
before that leaves every shard as it was.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import queue
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Iterator, Sequence

import numpy
import psycopg2
from psycopg2 import sql
from tqdm import tqdm

from loaders.feature_lines import SpooledTable
from loaders.rejects import RejectsFile, default_rejects_path
from loaders.genes import GenesFile
from loaders.samples import SamplesFile
from loaders.shard_writer import ShardWriter, describe_error
from loaders.two_phase import Load
from loaders.source import Source, line_blocks
from loaders.unique_ids import SeenIds, refuse_repeat
from snapthunder.compilations import Compilation
from snapthunder.endpoints import Endpoints
from snapthunder.features import JUNCTIONS, Feature
from snapthunder.junctions import CheckedBlock, check_block
from snapthunder.plan import ShardPlan

BLOCKS_IN_FLIGHT_PER_JOB = 3


@dataclasses.dataclass
class LoadSummary:
    """What a load did, per shard; returned to the CLI, the tests and the bench."""

    source: str
    lines: int = 0
    rejected: int = 0
    rows_per_shard: dict[str, int] = dataclasses.field(default_factory=dict)
    rejects_path: Path | None = None
    seconds: float = 0.0
    recovered: list[str] = dataclasses.field(default_factory=list)   # what the load found a dead loader left
    # shard → (chromosome, rows) it held that the plan places elsewhere, removed by this load
    removed: dict[str, list[tuple[str, int]]] = dataclasses.field(default_factory=dict)
    # the gene and exon files loaded with the junctions, each summarised alike
    coverage: list["LoadSummary"] = dataclasses.field(default_factory=list)

    @property
    def rows_loaded(self) -> int:
        return sum(self.rows_per_shard.values())


def default_jobs() -> int:
    return os.cpu_count() or 1


def load_junctions(
    source_name: str,
    endpoints: Endpoints,
    rejects_path: Path | None = None,
    jobs: int | None = None,
    progress: bool = False,
    samples: SamplesFile | None = None,
    genes: GenesFile | None = None,
    coverage: Sequence[tuple[Feature, str]] = (),
    compilation: Compilation | None = None,
    annotations: Sequence[SpooledTable] = (),
) -> LoadSummary:
    """Load a junctions file and its extras (`samples`, `genes`, `coverage` rows, `annotations`) of `compilation`.

    `compilation` defaults to the only one the document configures. Nothing
    of any other compilation is read or written.

    On all of them or none: the `coverage` files (genes.bgz, exons.bgz) go
    through the same pipeline into their own tables, in the same transaction
    on every shard, each file's bad lines to its own `./<file>.rejects.tsv`;
    their summaries are the result's `coverage`. Raises on data, I/O or
    shard errors, with nothing changed unless the message says otherwise (a
    failure during the commit: two_phase.py).
    """
    started = time.monotonic()
    compilation = compilation or endpoints.configured(endpoints.compilation)
    summary = LoadSummary(source_name)
    summary.coverage = [LoadSummary(path) for _, path in coverage]
    files = [(JUNCTIONS, summary, rejects_path)] + [(feature, part, None)
                                                      for (feature, _), part in zip(coverage, summary.coverage)]
    plan = endpoints.plan()
    written: list[tuple[Feature, str]] = []
    jobs = jobs or default_jobs()
    with _worker_pool(jobs) as workers, Load(endpoints, compilation) as load:
        summary.recovered = load.recovered
        for feature, part, rejects in files:
            writers = _load_file(feature, part, rejects, load, compilation.name, plan, workers, jobs, progress)
            written += [(feature, name) for name in writers]
        for extra in (samples, genes, *annotations):
            if extra is not None:
                for participant in load.participants.values():
                    extra.write(participant)
        load.commit()
        _vacuum(load, written)
    summary.seconds = time.monotonic() - started
    return summary


def _load_file(feature: Feature, summary: LoadSummary, rejects_path: Path | None, load: Load, compilation: str,
               plan: ShardPlan, workers: Pool | None, jobs: int, progress: bool) -> dict[str, ShardWriter]:
    """Read, check and route one file into its feature's table on each shard it touches; the shards' writers.

    Returns once every writer has built its table (uncommitted): the next
    file's writers use the same shard connections.
    """
    started = time.monotonic()
    source_name, endpoints = summary.source, load.endpoints
    writers: dict[str, ShardWriter] = {}
    route: dict[bytes, ShardWriter] = {}
    rejects = RejectsFile(rejects_path or default_rejects_path(source_name))
    seen = SeenIds()
    summary.removed = _misplaced(load, plan, feature)
    for name, held in summary.removed.items():
        writers[name] = ShardWriter(endpoints.shards[name], load.participants[name].connection, source_name,
                                    compilation, tuple(chromosome for chromosome, _ in held), feature)

    def writer_for(chromosome: bytes) -> ShardWriter:
        name = plan.shard_for(chromosome.decode())
        if name not in writers:
            writers[name] = ShardWriter(endpoints.shards[name], load.participants[name].connection,
                                        source_name, compilation, feature=feature)
        writers[name].chromosomes.append(chromosome.decode())
        route[chromosome] = writers[name]
        return writers[name]

    try:
        with Source(source_name) as source, _progress_bar(source, progress) as bar:
            for block, checked in _checked_blocks(line_blocks(source), workers, jobs, feature.row_format):
                repeat = seen.first_repeat(numpy.frombuffer(checked.ids, numpy.int64))
                if repeat is not None:
                    raise refuse_repeat(source_name, plan, block, summary.lines + 1, checked, repeat,
                                        feature.row_format)
                view = memoryview(block)
                for chromosome, start, end, count in checked.runs:
                    (route.get(chromosome) or writer_for(chromosome)).add(view[start:end], count)
                for line_number, reason, line in checked.rejects:
                    rejects.add(line_number, reason, line)
                summary.lines += checked.lines
                _show(bar, source, summary.lines, started)
        for writer in writers.values():
            writer.finish()
        for writer in writers.values():
            writer.wait()
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise
    finally:
        rejects.close()
    summary.rejected = rejects.count
    summary.rejects_path = rejects.path if rejects.count else None
    summary.rows_per_shard = {name: writer.rows for name, writer in sorted(writers.items())}
    return writers


def _misplaced(load: Load, plan: ShardPlan, feature: Feature) -> dict[str, list[tuple[str, int]]]:
    """Per shard, the chromosomes (and their rows) of `feature`'s table it holds that the plan places elsewhere.

    Read in each shard's load transaction: the load removes them, even from a
    shard the file does not touch, so that answers never count a copy twice.
    """
    misplaced = {}
    statement = sql.SQL("SELECT chromosome, row_count FROM {} ORDER BY chromosome").format(
        sql.Identifier(feature.stats_table))
    for name, participant in load.participants.items():
        with participant.connection.cursor() as cursor:
            cursor.execute(statement)
            rows = dict(cursor.fetchall())
        if removed := plan.misplaced(name, rows):
            misplaced[name] = [(chromosome, rows[chromosome]) for chromosome in removed]
    return misplaced


def _vacuum(load: Load, written: list[tuple[Feature, str]]) -> None:
    """VACUUM each rewritten table, (feature, shard) in `written`, in parallel, once every shard has committed.

    COPY FREEZE already marked the new rows all-visible; VACUUM does the same
    for rows kept from the previous table, so counts stay index-only scans.
    Statistics were gathered before the swap (finish_table_load's ANALYZE).
    The load is committed by now: a shard that fails to VACUUM is a warning.
    """
    def vacuum(shard: str) -> None:
        connection = load.participants[shard].connection
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                for feature, name in written:
                    if name == shard:
                        cursor.execute(sql.SQL("VACUUM {}").format(sql.Identifier(feature.table)))
        except psycopg2.Error as error:
            print(f"warning: {load.participants[shard].shard.describe()}: VACUUM after the load failed "
                  f"({describe_error(error)}): counts are slower until autovacuum runs", file=sys.stderr)

    shards = sorted({name for _, name in written})
    with ThreadPoolExecutor(max_workers=max(len(shards), 1)) as pool:
        list(pool.map(vacuum, shards))


def _checked_blocks(blocks: Iterator[tuple[bytes, int]], workers: Pool | None,
                    jobs: int, row_format: str) -> Iterator[tuple[bytes, CheckedBlock]]:
    """(block, check_block's result) over the blocks, in file order; in the worker processes if any.

    With workers, a thread reads and submits blocks while this generator hands
    back results as they complete, so a slow source (a pipe, a download) never
    holds back blocks already checked; the queue bounds the blocks in flight.
    """
    if workers is None:
        for block, first_line in blocks:
            yield block, check_block(block, first_line, row_format)
        return
    in_flight: queue.Queue = queue.Queue(maxsize=jobs * BLOCKS_IN_FLIGHT_PER_JOB)
    stop = threading.Event()

    def submit_all() -> None:
        try:
            for block, first_line in blocks:
                _put_unless_stopped(in_flight, (block, workers.apply_async(check_block, (block, first_line, row_format))), stop)
        except BaseException as error:  # handed to the consuming thread, raised there
            _put_unless_stopped(in_flight, error, stop)
        else:
            _put_unless_stopped(in_flight, _END_OF_BLOCKS, stop)

    reader = threading.Thread(target=submit_all, name="read-blocks", daemon=True)
    reader.start()
    try:
        while (item := in_flight.get()) is not _END_OF_BLOCKS:
            if isinstance(item, BaseException):
                raise item
            block, result = item
            yield block, result.get()
    finally:
        # Not joined: after a failure the reader may be blocked on a source that
        # never ends (a pipe); it is a daemon and stops at its next block.
        stop.set()


_END_OF_BLOCKS = object()


def _put_unless_stopped(destination: queue.Queue, item, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            destination.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


@contextlib.contextmanager
def _worker_pool(jobs: int) -> Iterator[Pool | None]:
    """`jobs` checking processes, forked now: before the writers' threads exist, so forking is safe."""
    if jobs == 1:
        yield None
        return
    workers = multiprocessing.get_context("fork").Pool(jobs)
    try:
        yield workers
    finally:
        workers.terminate()
        workers.join()


def _progress_bar(source: Source, enabled: bool) -> tqdm:
    return tqdm(total=source.size, unit="B", unit_scale=True, unit_divisor=1024, disable=not enabled,
                desc=f"loading {Path(source.name).name}", dynamic_ncols=True, mininterval=0.5)


def _show(bar: tqdm, source: Source, lines: int, started: float) -> None:
    if bar.disable:
        return
    bar.update(source.bytes_read - bar.n)
    rate = lines / max(time.monotonic() - started, 1e-9)
    bar.set_postfix_str(f"{lines:,} lines, {rate:,.0f} lines/s", refresh=False)
