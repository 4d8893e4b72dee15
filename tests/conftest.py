"""Fixtures shared by the suite: real PostgreSQL shards, started once per session.

The servers come from the local environment's own code (snapthunder.localenv),
on /dev/shm when the machine has it, without fsync: throwaway and fast. The
session ends by stopping every one of them, whatever the tests did.
"""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Iterable, Iterator

import psycopg2
import pytest

from snapthunder import localenv
from snapthunder.compilations import search_path_option
from snapthunder.endpoints import Endpoints

DATA = Path(__file__).parent / "data"


# Every scratch directory this test session made: servers running inside one at
# the end of the session were left behind by a test (see pytest_sessionfinish).
SCRATCH_DIRECTORIES: list[Path] = []


def scratch_directory(prefix: str) -> Path:
    """A new directory in /dev/shm (fast, RAM-backed) if it exists, else the system temp dir."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    path.chmod(0o755)  # the postgres OS user must reach the servers' data inside
    SCRATCH_DIRECTORIES.append(path)
    return path


@pytest.fixture(scope="session")
def local_environment() -> Iterator[Endpoints]:
    """Four real shards on loopback; the endpoints document is at `.extra['outputs_path']`."""
    root = scratch_directory("snapthunder-test-")
    outputs = root / "endpoints.json"
    environment = localenv.up(shards=4, outputs=outputs, data_dir=root / "data", durable=False, start_api=False)
    try:
        yield environment
    finally:
        localenv.down(outputs)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def outputs_path(local_environment: Endpoints) -> Path:
    return Path(local_environment.extra["local"]["root"]).parent / "endpoints.json"


@pytest.fixture
def empty_shards(local_environment: Endpoints) -> Endpoints:
    """The session's shards with no junctions, genes, exons, samples or load history: each test starts clean."""
    for shard in local_environment.shards.values():
        with psycopg2.connect(**shard.connect_arguments(), options=search_path_option(local_environment.compilation)) \
                as connection, connection.cursor() as cursor:
            cursor.execute("TRUNCATE intron, chromosome_stats, load_history, sample, sample_field, sample_group, "
                           "gene_transcript, gene, gene_chromosome_stats, exon, exon_chromosome_stats, gencode_gene, "
                           "annotation_transcript")
            cursor.execute("DELETE FROM shard_metadata WHERE key <> 'schema_version'")
        connection.close()
    return local_environment


def emptied_by_hand(endpoints: Endpoints, tables: str) -> None:
    """TRUNCATE `tables` on every shard, leaving what a load that emptied them would leave: a new `last_load_id`.

    A module that loaded gene names clears them so that the next finds none;
    the API's workers keep the names they looked up until the last load
    changes (images/ui/snapthunder_api/name_cache.py), as it does with every load.
    """
    load_id = f"emptied-by-hand-{uuid.uuid4()}"
    for shard in endpoints.shards.values():
        with psycopg2.connect(**in_compilation(endpoints, shard)) as connection, connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {tables}")
            cursor.execute("UPDATE shard_metadata SET value = %s WHERE key = 'last_load_id'", (load_id,))
        connection.close()


def in_compilation(endpoints: Endpoints, shard, credentials=None, compilation: str | None = None) -> dict:
    """`psycopg2.connect` arguments for `shard` (as the loader, or `credentials`) seeing `compilation`'s tables
    (default: the only one configured)."""
    return {**shard.connect_arguments(credentials), "options": search_path_option(compilation or endpoints.compilation)}


def query_all_shards(endpoints: Endpoints, statement: str, parameters: tuple = (), as_loader: bool = False,
                     compilation: str | None = None) -> dict[str, list[tuple]]:
    """Run one statement on every shard, as the reader (or the loader), in `compilation`'s schema
    (default: the only one configured); rows per shard name."""
    results = {}
    options = search_path_option(compilation or endpoints.compilation)
    for name, shard in endpoints.shards.items():
        credentials = None if as_loader else endpoints.reader
        with psycopg2.connect(**shard.connect_arguments(credentials), options=options) as connection:
            with connection.cursor() as cursor:
                cursor.execute(statement, parameters)
                results[name] = cursor.fetchall()
        connection.close()
    return results


def junction_line(snaptron_id: int, chromosome: str, start: int, end: int, samples: Iterable[tuple[int, int]]) -> str:
    """A valid 17-column junction line (no newline) with consistent sample statistics."""
    samples = list(samples)
    counts = sorted(count for _, count in samples)
    total = sum(counts)
    middle = len(counts) // 2
    median = counts[middle] if len(counts) % 2 else (counts[middle - 1] + counts[middle]) / 2
    listed = "".join(f",{sid}:{count}" for sid, count in samples)
    return "\t".join(map(str, (
        snaptron_id, chromosome, start, end, end - start + 1, "+", 1, "GT", "AG", "aC19", "cG19",
        listed, len(samples), total, round(total / len(samples), 3), float(median), 0,
    )))


def coverage_line(snaptron_id: int, chromosome: str, start: int, end: int, samples: Iterable[tuple[int, int]],
                  exon_count: str = "2") -> str:
    """A valid genes.bgz/exons.bgz line (no newline): columns 7-9 empty, the gene in column 11, stats `%.3f`."""
    samples = list(samples)
    counts = sorted(count for _, count in samples) or [0]     # a gene no sample covers: empty list, zeros
    middle = len(counts) // 2
    median = counts[middle] if len(counts) % 2 else (counts[middle - 1] + counts[middle]) / 2
    listed = "".join(f",{sid}:{count}" for sid, count in samples)
    return "\t".join(map(str, (
        snaptron_id, chromosome, start, end, end - start + 1, "-", "", "", "", exon_count,
        f"ENSG{snaptron_id:011d}.1:G{snaptron_id}:protein_coding:400", listed, len(samples), sum(counts),
        f"{sum(counts) / len(counts):.3f}", f"{median:.3f}", 0,
    )))


CHROMOSOME_SAMPLE = ["chr1", "chr10", "chr1_KI270706v1_random", "chr2", "chr21", "chrM", "chrUn_GL000220v1", "chrX"]


def junction_lines(chromosomes=CHROMOSOME_SAMPLE, per_chromosome=50, first_id=0) -> Iterator[str]:
    """Sorted, valid lines: `per_chromosome` junctions on each of `chromosomes`."""
    snaptron_id = first_id
    for chromosome in sorted(chromosomes):
        for index in range(per_chromosome):
            start = 1000 + index * 500
            yield junction_line(snaptron_id, chromosome, start, start + 100 + index,
                                ((sid, sid % 5 + 1) for sid in range(index % 7 + 1)))
            snaptron_id += 1


def rows_by_chromosome(endpoints: Endpoints) -> dict[str, int]:
    counts: dict[str, int] = {}
    for rows in query_all_shards(endpoints, "SELECT chromosome, count(*) FROM intron GROUP BY chromosome").values():
        for chromosome, count in rows:
            counts[chromosome] = counts.get(chromosome, 0) + count
    return counts


# Everything a load may change on a shard, as fingerprints: equal before and after means nothing changed.
SHARD_CONTENTS = """
    SELECT (SELECT count(*) FROM intron),
           (SELECT md5(coalesce(string_agg(intron::text, E'\n' ORDER BY snaptron_id), '')) FROM intron),
           (SELECT string_agg(chromosome || '=' || row_count, ',' ORDER BY chromosome) FROM chromosome_stats),
           (SELECT md5(coalesce(string_agg(gene::text, E'\n' ORDER BY snaptron_id), '')) FROM gene),
           (SELECT md5(coalesce(string_agg(exon::text, E'\n' ORDER BY snaptron_id), '')) FROM exon),
           (SELECT count(*) FROM load_history),
           (SELECT md5(coalesce(string_agg(sample::text, E'\n' ORDER BY rail_id), '')) FROM sample),
           (SELECT string_agg(key || '=' || value, ',' ORDER BY key) FROM shard_metadata)
"""


def shard_contents(endpoints: Endpoints) -> dict[str, list[tuple]]:
    """Per shard, fingerprints of its junctions, genes, exons, statistics, history, samples and metadata."""
    return query_all_shards(endpoints, SHARD_CONTENTS)


def write_gzip(path: Path, lines: Iterable[str]) -> Path:
    with gzip.open(path, "wt") as handle:
        for line in lines:
            handle.write(line + "\n")
    return path


def parent_process(pid: int) -> int:
    """The parent of `pid`, from /proc (OSError once it has exited)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def process_environment(pid: int) -> list[bytes] | None:
    """The `NAME=value` entries of `pid`'s environment, or None once it has ended.

    /proc refuses an ended process in two ways: FileNotFoundError once it is
    reaped, ProcessLookupError while it is exiting or (on this machine's
    kernel) a zombie; CI met both, reading a backend that ended as it was
    read. Other kernels read a zombie's environment as empty, which holds no
    password either.
    """
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError):
        return None


def child_processes(pid: int) -> list[int]:
    """The processes `pid` started that are still running, from /proc."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if parent_process(int(stat.parent.name)) == pid:
                children.append(int(stat.parent.name))
        except (OSError, ValueError):
            continue  # it exited while we looked
    return children


def postgres_servers() -> set[str]:
    """Command lines of the PostgreSQL servers running on this machine now."""
    listing = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True, text=True).stdout.splitlines()
    return {line.strip() for line in listing if "postgres -D" in line}


def pytest_sessionfinish(session, exitstatus):
    """No test may leave a server running: fail the run, naming what was left, and stop it.

    Only servers in this session's scratch directories count, so test runs of
    other checkouts on the same machine are neither blamed nor stopped.
    """
    left = {line for line in postgres_servers()
            if any(f" -D {directory}/" in line for directory in SCRATCH_DIRECTORIES)}
    if left:
        for line in left:
            os.kill(int(line.split()[0]), signal.SIGTERM)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print("\nPostgreSQL servers left running by the tests (now stopped):\n  " + "\n  ".join(sorted(left)))
