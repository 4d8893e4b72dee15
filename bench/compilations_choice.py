"""How several compilations share shard servers: the measurement behind docs/DEPLOY.md's choice.

Two ways to serve three compilations, side by side on this machine, with the
same generated compilation loaded as each of gtex, tcga and srav2:

* **shared**: one server holding all three, each in its own schema (what
  snapthunder does; snapthunder/compilations.py);
* **separate**: one server per compilation (a shard set per compilation).

Measured: memory (PSS, so pages shared between a server's processes count
once) of the servers after every compilation was queried; a gene-sized
overlap query's latency on gtex with one and with three compilations loaded
(random 100 kb windows in chr1:1-25 Mb, median and p90); the time to reload
one compilation while another is queried, and that other's latency meanwhile.

    python -m bench.compilations_choice [--scale 0.2] [--queries 300]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import random
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator

import psycopg2

from loaders.pipeline import load_junctions
from snapthunder import localenv, synthetic
from snapthunder.compilations import compilation
from snapthunder.endpoints import Endpoints

NAMES = ("gtex", "tcga", "srav2")
WINDOW = 100_000
DENSE_END = 25_000_000
OVERLAP = ('COPY (SELECT * FROM intron WHERE chromosome = %(chromosome)s AND "end" >= %(start)s '
           'AND start <= %(end)s AND start >= %(start)s - (SELECT max_length FROM chromosome_stats '
           'WHERE chromosome = %(chromosome)s) ORDER BY start, "end") TO STDOUT')


class _Sink(io.RawIOBase):
    def write(self, data) -> int:
        return len(data)


def server_pss_bytes(environment: Endpoints) -> int:
    """PSS of every process of the environment's servers (postmaster and children), from /proc."""
    total = 0
    for entry in environment.extra["local"]["servers"].values():
        postmaster = int((Path(entry["data_dir"]) / "postmaster.pid").read_text().split()[0])
        for pid in [postmaster, *_children(postmaster)]:
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
    return total


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def latencies(environment: Endpoints, name: str, count: int, seed: int,
              stop: threading.Event | None = None) -> list[float]:
    """Seconds per gene-sized overlap query on `name` (count of them, or until `stop`)."""
    shard = next(iter(environment.shards.values()))
    connection = psycopg2.connect(**shard.connect_arguments(environment.reader, name))
    connection.autocommit = True
    chooser = random.Random(seed)
    found = []
    try:
        with connection.cursor() as cursor:
            for _ in range(count):
                if stop is not None and stop.is_set():
                    break
                start = chooser.randrange(1, DENSE_END - WINDOW)
                began = time.perf_counter()
                cursor.copy_expert(cursor.mogrify(OVERLAP, {"chromosome": "chr1", "start": start,
                                                            "end": start + WINDOW}).decode(), _Sink())
                found.append(time.perf_counter() - began)
    finally:
        connection.close()
    return found


def _load(environment: Endpoints, junctions: Path, name: str, scratch: Path) -> float:
    began = time.monotonic()
    load_junctions(str(junctions), environment, rejects_path=scratch / "rejects.tsv", jobs=1,
                   compilation=compilation(name))
    return time.monotonic() - began


def _load_while_queried(environment: Endpoints, junctions: Path, scratch: Path, queried: str, loaded: str,
                        reader_environment: Endpoints | None = None) -> tuple[float, list[float]]:
    """Reload `loaded` while a thread queries `queried`: the load's seconds and the queries' latencies."""
    stop = threading.Event()
    during: list[float] = []
    reader = threading.Thread(target=lambda: during.extend(
        latencies(reader_environment or environment, queried, 100_000, 7, stop)))
    reader.start()
    try:
        seconds = _load(environment, junctions, loaded, scratch)
    finally:
        stop.set()
        reader.join()
    return seconds, during


_NUMBERS = itertools.count()


@contextlib.contextmanager
def _environments(scratch: Path, count: int, names_each: tuple[str, ...]) -> Iterator[list[Endpoints]]:
    started = []
    try:
        for _ in range(count):
            outputs = scratch / f"env-{next(_NUMBERS)}.json"
            started.append(localenv.up(1, outputs, scratch / outputs.stem, compilations=names_each,
                                       durable=False, start_api=False))
        yield started
    finally:
        for environment in started:
            localenv.down(Path(environment.extra["local"]["root"]).with_suffix(".json"))


def _summary(values: list[float]) -> str:
    ordered = sorted(values)
    return (f"median {statistics.median(ordered) * 1000:.2f} ms, p90 {ordered[int(len(ordered) * 0.9)] * 1000:.2f} ms "
            f"({len(ordered)} queries)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compilations_choice", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=0.2, help="generated compilation scale (default 0.2)")
    parser.add_argument("--queries", type=int, default=300)
    arguments = parser.parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="snapthunder-compilations-choice-", dir="/dev/shm"))
    scratch.chmod(0o755)
    try:
        generated = synthetic.generate(scratch / "data", scale=arguments.scale)
        junctions = generated.junctions_path
        print(f"one compilation: {generated.row_count:,} junctions, loaded as each of {', '.join(NAMES)}")
        with _environments(scratch, 1, NAMES) as (shared,):
            load_seconds = [_load(shared, junctions, name, scratch) for name in NAMES[:1]]
            latencies(shared, "gtex", 50, 1)
            one = latencies(shared, "gtex", arguments.queries, 2)
            load_seconds += [_load(shared, junctions, name, scratch) for name in NAMES[1:]]
            for name in NAMES:
                latencies(shared, name, 50, 3)
            three = latencies(shared, "gtex", arguments.queries, 2)
            shared_memory = server_pss_bytes(shared)
            shared_load, shared_during = _load_while_queried(shared, junctions, scratch, "gtex", "tcga")
        with _environments(scratch, 3, ("gtex",)) as separate:
            for environment in separate:
                _load(environment, junctions, "gtex", scratch)
                latencies(environment, "gtex", 50, 3)
            alone = latencies(separate[0], "gtex", arguments.queries, 2)
            separate_memory = sum(server_pss_bytes(environment) for environment in separate)
            separate_load, separate_during = _load_while_queried(separate[1], junctions, scratch, "gtex", "gtex",
                                                                 reader_environment=separate[0])
        idle_load = statistics.median(load_seconds)
        print(f"memory after querying every compilation: shared server {shared_memory / 2**20:.0f} MiB PSS; "
              f"three separate servers {separate_memory / 2**20:.0f} MiB PSS")
        print(f"gene-sized query on gtex, shared server, 1 compilation loaded: {_summary(one)}")
        print(f"gene-sized query on gtex, shared server, 3 compilations loaded: {_summary(three)}")
        print(f"gene-sized query on gtex, its own server: {_summary(alone)}")
        print(f"load of one compilation, nothing else running: median {idle_load:.2f} s over {len(load_seconds)}")
        print(f"reload of tcga while gtex is queried, shared server: {shared_load:.2f} s; gtex meanwhile "
              f"{_summary(shared_during)}")
        print(f"reload of a compilation on its own server while gtex's server is queried: {separate_load:.2f} s; "
              f"gtex meanwhile {_summary(separate_during)}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
