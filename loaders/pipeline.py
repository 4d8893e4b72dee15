"""The junction load: read → check → route → COPY, with rejects and progress.

The file is read once, as a stream of ~1 MB blocks of whole lines. Blocks are
checked by `jobs` worker processes (checking is the loader's CPU cost; the
workers let it use every core while the shards parse their COPY streams), in
a bounded window so memory does not grow with the file, and their results
are taken back in file order. Each run of good lines goes to the writer of its
shard (created when the shard's first line arrives, so a shard the file does
not touch is left alone); bad lines go to the rejects file with their line
number and reason and never stop the load. When the input ends every shard
builds its indexes, and only when all are ready is each committed: any
failure rolls every shard back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import queue
import threading
import time
from multiprocessing.pool import Pool
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy
from tqdm import tqdm

from loaders.shard_writer import ShardWriter
from loaders.source import Source, line_blocks
from loaders.unique_ids import SeenIds, refuse_repeat
from snapthunder.endpoints import Endpoints
from snapthunder.junctions import CheckedBlock, check_block

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

    @property
    def rows_loaded(self) -> int:
        return sum(self.rows_per_shard.values())


class RejectsFile:
    """`line<TAB>reason<TAB>original line` per bad line; created on the first one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._handle: BinaryIO | None = None

    def add(self, line_number: int, reason: str, line: bytes) -> None:
        if self._handle is None:
            self._handle = open(self.path, "wb")
            self._handle.write(b"# line\treason\toriginal line\n")
        self._handle.write(f"{line_number}\t{reason}\t".encode() + line.rstrip(b"\r\n") + b"\n")
        self.count += 1

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


def default_rejects_path(source: str) -> Path:
    """`junctions.bgz` → `./junctions.bgz.rejects.tsv`; `-` → `./stdin.rejects.tsv`."""
    name = "stdin" if source == "-" else source.rstrip("/").rsplit("/", 1)[-1]
    return Path(f"{name}.rejects.tsv")


def default_jobs() -> int:
    return os.cpu_count() or 1


def load_junctions(
    source_name: str,
    endpoints: Endpoints,
    rejects_path: Path | None = None,
    jobs: int | None = None,
    progress: bool = False,
) -> LoadSummary:
    """Load a junctions file into the shards of `endpoints`; raises on data, I/O or shard errors."""
    started = time.monotonic()
    summary = LoadSummary(source_name)
    plan = endpoints.plan()
    writers: dict[str, ShardWriter] = {}
    route: dict[bytes, ShardWriter] = {}
    rejects = RejectsFile(rejects_path or default_rejects_path(source_name))

    def writer_for(chromosome: bytes) -> ShardWriter:
        name = plan.shard_for(chromosome.decode())
        if name not in writers:
            writers[name] = ShardWriter(endpoints.shards[name], source_name, endpoints.compilation)
        writers[name].chromosomes.append(chromosome.decode())
        route[chromosome] = writers[name]
        return writers[name]

    seen = SeenIds()
    jobs = jobs or default_jobs()
    try:
        with _worker_pool(jobs) as workers, Source(source_name) as source, _progress_bar(source, progress) as bar:
            for block, checked in _checked_blocks(line_blocks(source), workers, jobs):
                repeat = seen.first_repeat(numpy.frombuffer(checked.ids, numpy.int64))
                if repeat is not None:
                    raise refuse_repeat(source_name, plan, block, summary.lines + 1, checked, repeat)
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
        for writer in writers.values():
            writer.commit()
    except BaseException:
        for writer in writers.values():
            writer.rollback()
        raise
    finally:
        rejects.close()
    summary.rejected = rejects.count
    summary.rejects_path = rejects.path if rejects.count else None
    summary.rows_per_shard = {name: writer.rows for name, writer in sorted(writers.items())}
    summary.seconds = time.monotonic() - started
    return summary


def _checked_blocks(blocks: Iterator[tuple[bytes, int]], workers: Pool | None,
                    jobs: int) -> Iterator[tuple[bytes, CheckedBlock]]:
    """(block, check_block's result) over the blocks, in file order; in the worker processes if any.

    With workers, a thread reads and submits blocks while this generator hands
    back results as they complete, so a slow source (a pipe, a download) never
    holds back blocks already checked; the queue bounds the blocks in flight.
    """
    if workers is None:
        for block, first_line in blocks:
            yield block, check_block(block, first_line)
        return
    in_flight: queue.Queue = queue.Queue(maxsize=jobs * BLOCKS_IN_FLIGHT_PER_JOB)
    stop = threading.Event()

    def submit_all() -> None:
        try:
            for block, first_line in blocks:
                _put_unless_stopped(in_flight, (block, workers.apply_async(check_block, (block, first_line))), stop)
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
