"""One directory per run: run.json, one CSV per workload, PNG plots and report.md.

The service workload has a second CSV, service_answers.csv: the row counts of
its sample queries from each server, the evidence that they answered alike.

The directory is named by start time and commit, and run.json records what the
figures depend on: commit (and whether the tree had uncommitted changes), the
machine, the versions, the data and the command line. report.md puts the goals
first (met, or missed by how much), then each workload's tables with the plots
linked, so a reader sees the verdict and the evidence in one page.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import json
import os
import platform
import sqlite3
import shlex
import subprocess
from pathlib import Path
from typing import Sequence

import matplotlib
import numpy
import psycopg2
import pysam

from bench import goals, plots
from bench.compilation import Compilation
from bench.goals import Goal
from bench.load import RAW_COPY_QUERYABLE, LoadRow
from bench.names import NamesRow
from bench.paper import PaperResult, PaperRow
from bench.queries import SHAPES
from bench.genes import REGIONS as GENE_REGIONS, GenesRow
from bench.service import ServiceAnswer, ServiceResult, ServiceRow
from snapthunder.endpoints import Endpoints

REPOSITORY = Path(__file__).resolve().parent.parent


@dataclasses.dataclass
class RunResults:
    paper: PaperResult | None = None
    service: ServiceResult | None = None
    load: list[LoadRow] | None = None
    genes: list[GenesRow] | None = None
    names: list[NamesRow] | None = None


def start_run(results_root: Path, argv: Sequence[str], program: str = "bench") -> tuple[Path, dict]:
    """Create the run's directory; return it with the run's description (written as run.json at the end)."""
    now = datetime.datetime.now().astimezone()
    commit = _git("rev-parse", "--short=12", "HEAD") or "unknown"
    directory = Path(results_root) / f"{now:%Y%m%d-%H%M%S}-{commit}"
    directory.mkdir(parents=True)
    description = {
        "started": now.isoformat(timespec="seconds"),
        "commit": commit,
        "uncommitted_changes": bool(_git("status", "--porcelain")),
        "command": shlex.join(["python", "-m", program, *argv]),
        "machine": _machine(),
        "versions": {
            "python": platform.python_version(), "psycopg2": psycopg2.__version__.split()[0],
            "sqlite": sqlite3.sqlite_version, "pysam": pysam.__version__, "numpy": numpy.__version__,
            "matplotlib": matplotlib.__version__,
        },
    }
    return directory, description


def describe_target(description: dict, endpoints: Endpoints, compilation: Compilation) -> None:
    """Add the PostgreSQL version of the shards and the data used to the run's description."""
    shard = next(iter(endpoints.shards.values()))
    with psycopg2.connect(**shard.connect_arguments(endpoints.reader)) as connection, connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        description["versions"]["postgresql"] = cursor.fetchone()[0]
    connection.close()
    description["shards"] = len(endpoints.shards)
    description["api_url"] = endpoints.api_url
    description["data"] = {"directory": str(compilation.directory),
                           "junctions_bytes": compilation.junctions_path.stat().st_size}


def write(directory: Path, description: dict, results: RunResults, runs: int) -> Path:
    """Write run.json, the CSVs, the plots and report.md; return report.md's path."""
    (directory / "run.json").write_text(json.dumps(description, indent=2) + "\n")
    sections = [_heading(description, runs), _goals_section(_evaluated(results))]
    if results.paper is not None:
        write_csv(directory / "paper.csv", PaperRow, results.paper.rows)
        plots.paper_plot(results.paper.rows, results.paper.peer_labels, directory / "paper.png")
        sections.append(_paper_section(results.paper))
    if results.service is not None:
        write_csv(directory / "service.csv", ServiceRow, results.service.rows)
        write_csv(directory / "service_answers.csv", ServiceAnswer, results.service.answers)
        if results.service.rows:
            plots.service_plot(results.service.rows, directory / "service.png")
        sections.append(_service_section(results.service))
    if results.load is not None:
        write_csv(directory / "load.csv", LoadRow, results.load)
        plots.load_plot(results.load, directory / "load.png")
        sections.append(_load_section(results.load))
    if results.genes is not None:
        write_csv(directory / "genes.csv", GenesRow, results.genes)
        sections.append(_genes_section(results.genes))
    if results.names is not None:
        write_csv(directory / "names.csv", NamesRow, results.names)
        sections.append(_names_section(results.names))
    path = directory / "report.md"
    path.write_text("\n\n".join(sections) + "\n")
    return path


def write_csv(path: Path, row_type: type, rows: Sequence) -> None:
    """One line per row, columns named after the fields of the rows' dataclass (a header even with no rows)."""
    names = [field.name for field in dataclasses.fields(row_type)]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        writer.writerows([getattr(row, name) for name in names] for row in rows)


def headline(results: RunResults) -> list[str]:
    """The goals' verdicts as lines, for the terminal at the end of a run."""
    return [f"{goal.workload:<8} {goal.statement}: {_measured(goal)} → {goal.verdict()}" for goal in _evaluated(results)]


def _evaluated(results: RunResults) -> list[Goal]:
    found = []
    if results.paper is not None:
        found += goals.paper_goals(results.paper.rows)
    if results.service is not None:
        found += goals.service_goals(results.service.rows)
    if results.load is not None:
        found += goals.load_goals(results.load)
    if results.genes is not None:
        found += goals.genes_goals(results.genes)
    if results.names is not None:
        found += goals.names_goals(results.names)
    return found


def _heading(description: dict, runs: int) -> str:
    machine = description["machine"]
    versions = ", ".join(f"{name} {version}" for name, version in description["versions"].items())
    data = description.get("data", {})
    changes = " (with uncommitted changes)" if description["uncommitted_changes"] else ""
    return "\n".join([
        f"# snapthunder benchmark, {description['started']}",
        "",
        f"- command: `{description['command']}`",
        f"- commit: `{description['commit']}`{changes}",
        f"- machine: {machine['processor']}, {machine['cores']} cores, {machine['memory_gb']} GB, "
        f"{machine['system']}; load average at start {machine['load_average']}",
        f"- versions: {versions}",
        f"- data: `{data.get('directory')}` ({data.get('junctions_bytes', 0) / 1e6:,.0f} MB junctions.bgz); "
        f"target: {description.get('shards')} shards, API {description.get('api_url') or 'not running'}",
        f"- timing: median of {runs} runs after a warm-up round; contenders interleaved round by round, "
        "so every ratio below compares runs made side by side. Absolute seconds depend on this machine; "
        "only the ratios carry over.",
    ])


def _goals_section(found: list[Goal]) -> str:
    lines = ["## Goals", "", "| workload | goal | measured | verdict |", "|---|---|---|---|"]
    for goal in found:
        statement = f"{goal.statement} *(for information)*" if goal.informational else goal.statement
        lines.append(f"| {goal.workload} | {statement} | {_measured(goal)} | {goal.verdict()} |")
    return "\n".join(lines)


def _measured(goal: Goal) -> str:
    if goal.measured is None:
        return "—"
    if goal.unit == "of floor":
        return f"{goal.measured:.0%} of floor"
    if goal.measured.is_integer() and goal.target == 0:
        return f"{goal.measured:,.0f} {goal.unit}"
    return f"{goal.measured:,.2f} {goal.unit}"


def _paper_section(result: PaperResult) -> str:
    rows = result.rows
    lines = ["## Paper: chr1:1–E, four query shapes", ""]
    lines += [f"- {note}" for note in result.notes]
    lines += [f"- floor: {result.floor_method}.",
              "- peers: " + "; ".join(f"`{name}` = {label}" for name, label in result.peer_labels.items()) + ".",
              "- each figure is one query executed alone (the paper's figures are 4 executions together).", ""]
    disagreeing = goals.disagreements(rows)
    lines += ["### Row counts, ours next to the paper's", "",
              "| E (Mb) | paper simple | ours simple | paper filter | ours filter | ours ÷ paper | all peers agree |",
              "|---|---|---|---|---|---|---|"]
    original = {(row.shape, row.window_mb): row for row in rows if row.peer == "original_postgres"}
    for window in sorted({row.window_mb for row in rows}):
        simple, filtered = original[("simple", window)], original[("filter", window)]
        agree = all((shape, window) not in disagreeing for shape in SHAPES)
        ratio = f"{simple.rows / simple.paper_rows:.3f}" if simple.paper_rows else "—"
        lines.append(f"| {window:g} | {_count(simple.paper_rows)} | {_count(simple.rows)} | "
                     f"{_count(filtered.paper_rows)} | {_count(filtered.rows)} | {ratio} | {'yes' if agree else '**no**'} |")
    peers = list(result.peer_labels)
    for shape in SHAPES:
        lines += ["", f"### `{shape}`: median seconds (speed-up over peer 1)", "",
                  "| E (Mb) | " + " | ".join(peers) + " |", "|---|" + "---|" * len(peers)]
        by_key = {(row.window_mb, row.peer): row for row in rows if row.shape == shape}
        for window in sorted({row.window_mb for row in rows}):
            cells = [f"{by_key[(window, peer)].median_seconds:.4f} ({by_key[(window, peer)].speedup_vs_original:.2f}×)"
                     for peer in peers]
            lines.append(f"| {window:g} | " + " | ".join(cells) + " |")
    lines += ["", "![paper: time against window, per peer](paper.png)"]
    return "\n".join(lines)


def _service_section(result: ServiceResult) -> str:
    lines = ["## Service: closed loop through the API", ""]
    lines += [f"- {note}" for note in result.notes]
    if result.rows:
        lines += ["", "| server | clients | requests | errors | p50 ms | p95 ms | p99 ms | req/s | MB/s |",
                  "|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {row.server} | {row.clients} | {row.requests:,} | {row.errors:,} | {row.p50_ms:.1f} | "
                  f"{row.p95_ms:.1f} | {row.p99_ms:.1f} | {row.requests_per_second:,.1f} | "
                  f"{row.bytes_per_second / 1e6:,.2f} |" for row in result.rows]
        lines += ["", "![service: latency and throughput against clients](service.png)"]
    return "\n".join(lines)


def _genes_section(rows: list[GenesRow]) -> str:
    lines = ["## Genes: `/genes` against `/snaptron` on the same gene-sized regions", "",
             f"{rows[0].regions if rows else GENE_REGIONS} of the compilation's genes (10-60 kb), each asked by coordinates through the API; "
             "median of the runs, interleaved round by round.", "",
             "| endpoint | ms per request | ratio to /snaptron | rows per request | KB per request |",
             "|---|---|---|---|---|"]
    if not rows:
        return "\n".join(lines[:2] + ["Not measured: the target has no `api_url` (no API to ask)."])
    lines += [f"| /{row.endpoint} | {row.median_ms_per_request:.2f} | {row.ratio_to_snaptron:.2f}× | "
              f"{row.rows_per_request:.1f} | {row.bytes_per_request / 1e3:,.1f} |" for row in rows]
    return "\n".join(lines)


def _load_section(rows: list[LoadRow]) -> str:
    lines = ["## Load: the loader against raw COPY", "",
             "- `raw_copy`: the floor, begin_table_load() + COPY FREEZE of the decompressed bytes + commit, one server.",
             "- `raw_copy_queryable`: the same, then finish_table_load() (indexes, ANALYZE), commit, VACUUM.",
             "- `loader`: `load_junctions` from the bgzipped file to queryable shards (read, check, route, COPY, "
             "index, analyze).",
             *_queryable_limit(rows), "",
             "| input | contender | shards | rows | median s | rows/s | share of raw COPY | share of queryable floor |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {row.fraction:g}× | {row.contender} | {row.shards} | {row.rows:,} | {row.median_seconds:.2f} | "
              f"{row.rows_per_second:,.0f} | {row.share_of_copy_floor:.0%} | {row.share_of_queryable_floor:.0%} |"
              for row in rows]
    lines += ["", "![load: rows/s against shards and input size](load.png)"]
    return "\n".join(lines)


def _names_section(rows: list[NamesRow]) -> str:
    lines = ["## Names: sfilter and gene names through the API", "",
             f"- sfilter: `/samples?sfilter=…` over {rows[0].samples if rows else 0:,} generated samples, the whole "
             "answer read.",
             "- gene: each symbol as `regions=SYMBOL` and as its locus, and its GENCODE id (exact=1) against its "
             "span with `exact=1`, interleaved round by round.", "",
             "| measure | query | contender | rows | median ms |", "|---|---|---|---|---|"]
    lines += [f"| {row.measure} | `{row.query}` | {row.contender} | {row.rows:,} | {row.median_ms:.2f} |"
              for row in rows]
    return "\n".join(lines)


def _queryable_limit(rows: list[LoadRow]) -> list[str]:
    """What the goal's comparison leaves out: the loader's clock runs to queryable, raw COPY's does not."""
    whole = {row.contender: row for row in rows if row.fraction == 1.0}
    if RAW_COPY_QUERYABLE not in whole:
        return []
    share = whole[RAW_COPY_QUERYABLE].share_of_copy_floor
    return [f"- the loader's time always includes building the indexes and analyzing; the server doing only that "
            f"after the same COPY (`raw_copy_queryable`) reaches {share:.0%} of raw COPY's rows/s: a loader into one shard cannot do better against the raw-COPY "
            "floor, more shards only by building their indexes on several cores at once."]


def _count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _machine() -> dict:
    return {
        "system": platform.platform(),
        "processor": _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "memory_gb": round(int((_proc_field("/proc/meminfo", "MemTotal") or "0 kB").split()[0]) / 2**20, 1),
        "load_average": " ".join(f"{value:.2f}" for value in os.getloadavg()),
    }


def _proc_field(path: str, name: str) -> str | None:
    try:
        with open(path) as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == name:
                    return value.strip()
    except OSError:
        return None
    return None


def _git(*arguments: str) -> str:
    """Read-only git queries about the checkout the bench runs from; empty when git cannot say."""
    try:
        result = subprocess.run(["git", *arguments], cwd=REPOSITORY, capture_output=True, text=True, timeout=10)
    except OSError:
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""
