"""The demo: local shards and the API up, a GTEx-like and a TCGA-like compilation loaded, queried, united, benchmarked.

Each step is the same code a user runs by hand (`make up`, `python -m
loaders`, `python -m bench`), so the demo shows the real path; each says what
it does and why, and while one runs a line every HEARTBEAT_SECONDS says it is
still going (a silent terminal looks hung). The benchmark is a short one,
the paper's widest window against the original design plus short service
levels, so that the demo stays within five minutes on two cores; `make bench`
runs the whole benchmark. The demo reuses what is already there (servers
that are up, a compilation already generated) and leaves the servers and the
API up for exploring until `make down`. The two compilations share the
shards (each its own schema), have disjoint rail_ids as Snaptron's gtex and
tcga do, and are united the way Snaptron's clients unite compilations
(demo/union.py).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psycopg2
from tqdm import tqdm

from bench import cli as bench_cli
from bench import compilation as bench_compilation
from loaders import cli as loader_cli
from demo.union import union
from snapthunder import endpoints as endpoints_module
from snapthunder import localenv, synthetic
from snapthunder.compilations import search_path_option
from snapthunder.endpoints import Endpoints, EndpointsError
from snapthunder.synthetic_genes import MULTI_LOCUS_SYMBOL

# A few regions to count: the paper's smallest and largest windows and a gene-sized one.
EXAMPLE_REGIONS = (("chr1", 1, 2_500_000), ("chr1", 1, 25_000_000), ("chr1", 1_000_000, 1_100_000))
# The demo's benchmark: the paper's widest window (where its goals are judged) with the original design, direct SQL
# and the API, then 3 s service levels: ~1.5 of the demo's 5 minutes; then /genes against /snaptron on gene-sized
# regions (a few seconds). SQLite and tabix, the other nine windows and the loader's workload are in `make bench`.
DEMO_BENCH = ("--workloads", "paper,service,genes", "--windows", "25",
              "--peers", "original_postgres,snapthunder_sql,snapthunder_api", "--service-seconds", "3")
HEARTBEAT_SECONDS = 10
# The two compilations: the benchmark's GTEx-like one, and a smaller TCGA-like one with rail_ids from 59761 and
# source_dataset_id 4, as Snaptron's recount2 tcga (SNAPTRON-WIRE.md §12), half of whose junctions lie where
# gtex has one (synthetic.generate's shared_with), so that their union merges rows.
COMPILATIONS = ("gtex", "tcga")
TCGA_LIKE = {"scale": 0.1, "samples": 1_100, "rail_id_offset": 59_761, "source_dataset_id": 4}
UNION_REGION = "chr1:1000000-1100000"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--shards", default=str(localenv.DEFAULT_SHARDS), help="shard count for a new environment")
    parser.add_argument("--outputs", type=Path, default=localenv.DEFAULT_OUTPUTS, help="endpoints document")
    parser.add_argument("--no-bench", action="store_true", help="stop after loading and querying")
    arguments = parser.parse_args(argv)
    progress = sys.stderr.isatty()
    with Steps() as steps:
        environment = _environment(arguments.shards, arguments.outputs, steps)
        scale = bench_compilation.FULL_SCALE
        directory = bench_compilation.default_directory(scale)
        if bench_compilation.prepare_needed(directory):
            steps.begin("generating a GTEx-like compilation (1.5 M junctions, 9,700 samples; about a minute, once)",
                        f"GTEx itself is tens of GB; this stand-in matches the paper's chr1 counts, so the benchmark's "
                        f"windows answer paper-sized sets. It is kept in {directory} and reused")
        compilation = bench_compilation.prepare(directory, scale, progress)
        steps.begin(f"loading {compilation.directory} into {len(environment.shards)} shards (`python -m loaders DIR`)",
                    "its junctions, samples, genes table and gene and exon rows, taken by name; each chromosome goes to its shard, every "
                    "line is checked, and the load commits on every shard or on none")
        status = loader_cli.main([str(compilation.directory), "--compilation", "gtex",
                                  "--outputs", str(arguments.outputs), *([] if progress else ["--quiet"])])
        if status:
            return status
        tcga_directory = directory.parent / "tcga-like-shared"
        steps.begin("generating and loading a TCGA-like compilation as `tcga` (150 k junctions, 1,100 samples)",
                    "a second compilation on the same shards, in its own schema, with its own rail_ids "
                    "(59761 on, as Snaptron's tcga) and half of its junctions where gtex has one; loading it "
                    "does not touch gtex")
        if bench_compilation.prepare_needed(tcga_directory):
            synthetic.generate(tcga_directory, progress=progress, shared_with=compilation.junctions_path, **TCGA_LIKE)
        status = loader_cli.main([str(tcga_directory), "--compilation", "tcga", "--outputs", str(arguments.outputs),
                                  *([] if progress else ["--quiet"])])
        if status:
            return status
        _show_shards(environment)
        steps.begin("counting a few regions through the API", "what a Snaptron client asks; chr1:1-25 Mb gives "
                    "the paper's 618,8xx junctions")
        _show_regions(environment)
        steps.begin(f"uniting gtex and tcga over {UNION_REGION}, as the clients do (`--datasrc gtex,tcga`)",
                    "Snaptron has no server-side join: clients fetch each compilation and merge rows by coordinates")
        _show_union(environment)
        if not arguments.no_bench:
            steps.begin("a short benchmark (`python -m bench " + " ".join(DEMO_BENCH) + "`; about 1.5 min)",
                        "the paper's widest window, side by side with the original design, and the API under 1, 8 "
                        "and 32 clients; `make bench` runs the whole benchmark (about 20 min)")
            status = bench_cli.main(["--outputs", str(arguments.outputs), *DEMO_BENCH])
            if status:
                return status
        if environment.api_url:
            print(f"\nthe page: {environment.api_url}/   (try {environment.api_url}/?regions=chr1:1000000-1030000 "
                  f"or a gene: ?regions={MULTI_LOCUS_SYMBOL})")
        print(f"demo finished in {steps.elapsed():.0f} s. Everything stays up "
              f"(endpoints: {arguments.outputs}); stop it with `make down`.")
    return 0


class Steps:
    """Announces each step (what and why) and, while one runs, says every `beat_seconds` that it still does.

    Lines go through tqdm.write, so they do not break the progress bars the
    loader and the benchmark draw on a terminal.
    """

    def __init__(self, beat_seconds: float = HEARTBEAT_SECONDS) -> None:
        self.beat_seconds = beat_seconds
        self.started = time.monotonic()
        self.step = ""
        self.step_started = self.last_line = self.started
        self.finished = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def __enter__(self) -> "Steps":
        self.thread.start()
        return self

    def __exit__(self, *failure) -> None:
        self.finished.set()
        self.thread.join()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def begin(self, what: str, why: str) -> None:
        self.step, self.step_started = what.split(" (")[0], time.monotonic()
        self._write(f"==> [{self.elapsed():4.0f} s] {what}\n    why: {why}")

    def _beat(self) -> None:
        """Speak when the last line is `beat_seconds` old, so a step's first beat comes that long after it began."""
        while not self.finished.wait(self.beat_seconds / 10):
            if self.step and time.monotonic() - self.last_line >= self.beat_seconds:
                self._write(f"    ... {self.step}: {time.monotonic() - self.step_started:.0f} s so far")

    def _write(self, text: str) -> None:
        self.last_line = time.monotonic()
        tqdm.write(text)
        sys.stdout.flush()


def _environment(shards: str, outputs: Path, steps: Steps) -> Endpoints:
    """The running local environment at `outputs`, or a new one."""
    try:
        existing = endpoints_module.load(outputs)
        for shard in existing.shards.values():
            psycopg2.connect(**shard.connect_arguments()).close()
        steps.begin(f"reusing the local environment in {outputs}", "its servers answer; `make down` stops them")
        return existing
    except (EndpointsError, psycopg2.Error):
        steps.begin(f"starting {shards} local shards and the API (`make up`)",
                    "one real PostgreSQL server per shard on 127.0.0.1, initialised by the shard image's own SQL, "
                    "as the cluster runs one per StatefulSet")
        return localenv.up(shards, outputs, compilations=COMPILATIONS)


def _show_shards(environment: Endpoints) -> None:
    print("\nper shard and compilation:")
    for shard in environment.shards.values():
        for name in COMPILATIONS:
            with psycopg2.connect(**shard.connect_arguments(environment.reader),
                                  options=search_path_option(name)) as connection:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT coalesce(sum(row_count), 0), count(*) FROM chromosome_stats")
                    rows, chromosomes = cursor.fetchone()
            connection.close()
            print(f"  {shard.name:<12} 127.0.0.1:{shard.port:<6} {name:<5} {rows:>10,} junctions on "
                  f"{chromosomes} sequences")


def _show_regions(environment: Endpoints) -> None:
    """Count a few regions through the API, as a Snaptron client would ask."""
    if not environment.api_url:
        print("\n(no API in this environment: start it with `make down && make up` to query over HTTP)")
        return
    base = f"{environment.api_url}/{COMPILATIONS[0]}/snaptron"
    print(f"\nexample queries through the API ({base}):")
    for chromosome, start, end in EXAMPLE_REGIONS:
        region = f"regions={chromosome}:{start}-{end}&contains=1&fields=rc"
        everything = _count(f"{base}?{region}")
        frequent = _count(f"{base}?{region}&rfilter=samples_count>:100")
        print(f"  {chromosome}:{start:,}-{end:,}: {everything:,} junctions inside, {frequent:,} of them in >= 100 samples")
    print(f"  e.g. curl '{base}?regions=chr1:11000-20000'")


def _show_union(environment: Endpoints) -> None:
    """Each compilation's rows of one region through the API, and their union (demo/union.py)."""
    if not environment.api_url:
        return
    answers = {}
    for name in COMPILATIONS:
        url = f"{environment.api_url}/{name}/snaptron?regions={UNION_REGION}&header=0"
        with urllib.request.urlopen(url, timeout=60) as response:
            answers[name] = [line.split("\t")[1:] for line in response.read().decode().splitlines()]
    united = union(answers)
    shared = [row for row in united if ":" in row[0]]
    print("\n" + ", ".join(f"{name}: {len(rows):,} junctions" for name, rows in answers.items())
          + f"; union: {len(united):,} ({len(shared):,} in both, their samples and counts added)")
    for row in (shared or united)[:2]:
        print(f"  ids {row[0]}  {row[1]}:{row[2]}-{row[3]}  samples_count {row[12]}  coverage_sum {row[13]}  "
              f"source_dataset_id {row[16]}")
    print(f"  e.g. curl '{environment.api_url}/tcga/snaptron?regions={UNION_REGION}'  (rows labelled TCGA:I)")


def _count(url: str) -> int:
    """The count a `fields=rc` query answers (TSV: a header line, then the number)."""
    with urllib.request.urlopen(url, timeout=60) as response:
        return int(response.read().decode().split()[-1])
