"""The junction load: read → check → route → COPY, with rejects and progress.

The file is read once, as a stream; each good line goes to the writer of its
shard (created when the shard's first line arrives, so a shard the file does
not touch is left alone). Bad lines go to the rejects file with their line
number and reason and never stop the load. When the input ends, every shard
builds its indexes (at most `jobs` at once: index builds are CPU-bound) and
only when all are ready is each committed; any failure rolls every shard back.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
import zlib
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm

from loaders.shard_writer import ShardLoadError, ShardWriter
from loaders.source import Source, SourceError
from snapthunder.endpoints import Endpoints
from snapthunder.junctions import BadLine, check

PROGRESS_EVERY_LINES = 16384


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
    index_slots = threading.Semaphore(jobs or min(len(endpoints.shards), os.cpu_count() or 1))
    writers: dict[str, ShardWriter] = {}
    route: dict[bytes, ShardWriter] = {}
    rejects = RejectsFile(rejects_path or default_rejects_path(source_name))

    def writer_for(chromosome: bytes) -> ShardWriter:
        name = plan.shard_for(chromosome.decode())
        if name not in writers:
            writers[name] = ShardWriter(endpoints.shards[name], source_name, endpoints.compilation, index_slots)
        writers[name].chromosomes.append(chromosome.decode())
        route[chromosome] = writers[name]
        return writers[name]

    try:
        with Source(source_name) as source, _progress_bar(source, progress) as bar:
            number = 0
            try:
                for number, line in enumerate(source.lines, 1):
                    content = line[:-1] if line.endswith(b"\n") else line
                    if content.endswith(b"\r"):
                        content = content[:-1]
                        line = content + b"\n"
                    try:
                        chromosome = check(content)
                    except BadLine as bad:
                        rejects.add(number, str(bad), line)
                        continue
                    writer = route.get(chromosome) or writer_for(chromosome)
                    writer.add(line if line.endswith(b"\n") else line + b"\n")
                    if number % PROGRESS_EVERY_LINES == 0:
                        _show(bar, source, number, started)
            except (OSError, EOFError, zlib.error) as error:
                raise SourceError(f"{source_name}: unreadable after line {number}: {error}") from None
            _show(bar, source, number, started)
            summary.lines = number
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


def _progress_bar(source: Source, enabled: bool) -> tqdm:
    return tqdm(total=source.size, unit="B", unit_scale=True, unit_divisor=1024, disable=not enabled,
                desc=f"loading {Path(source.name).name}", dynamic_ncols=True, mininterval=0.5)


def _show(bar: tqdm, source: Source, lines: int, started: float) -> None:
    if bar.disable:
        return
    bar.update(source.bytes_read - bar.n)
    rate = lines / max(time.monotonic() - started, 1e-9)
    bar.set_postfix_str(f"{lines:,} lines, {rate:,.0f} lines/s", refresh=False)
