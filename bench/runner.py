"""One benchmark run, from settings to report: data, optional load, the chosen workloads, results.

The CLI parses and catches errors; this module decides the order: the run's
description first (its directory is named by the commit the run starts
from), then the compilation (reused or generated), then the workloads in the order the issue
lists them (the genes workload, issue 10's, last), each given one scratch directory that is removed when the run
ends. The scratch directory is in the system's temporary directory, not in
the results: the load, names and service workloads' servers put their Unix sockets there, and a
socket path longer than 107 bytes stops a server from starting.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import tempfile
from pathlib import Path

from bench import compilation as compilation_module
from bench import genes, load, names, paper, report, service
from bench.report import RunResults
from loaders.pipeline import load_junctions
from snapthunder.endpoints import Endpoints

WORKLOADS = ("paper", "service", "load", "genes", "names")


@dataclasses.dataclass(frozen=True)
class Settings:
    workloads: tuple[str, ...]
    results_root: Path
    data_directory: Path
    scale: float
    runs: int
    load_first: bool
    service_seconds: float
    baseline_url: str | None
    window_ends: tuple[int, ...]
    peers: tuple[str, ...]
    argv: tuple[str, ...]
    names_samples: int = names.SAMPLE_TOTAL


def run(settings: Settings, endpoints: Endpoints, progress: bool) -> tuple[Path, RunResults]:
    """Run the workloads against `endpoints`; return report.md's path and the results."""
    directory, description = report.start_run(settings.results_root, settings.argv)
    compilation = compilation_module.prepare(settings.data_directory, settings.scale, progress)
    if settings.load_first:
        if progress:
            print(f"loading {compilation.junctions_path} into the target's shards...", file=sys.stderr)
        load_junctions(str(compilation.junctions_path), endpoints, rejects_path=directory / "load.rejects.tsv",
                       progress=progress, coverage=compilation.coverage_files(),
                       compilation=endpoints.configured(endpoints.first_compilation))
    report.describe_target(description, endpoints, compilation)
    scratch = Path(tempfile.mkdtemp(prefix="snapthunder-bench-"))
    scratch.chmod(0o755)  # the load workload's servers keep their data here, as the postgres OS user
    results = RunResults()
    try:
        if "paper" in settings.workloads:
            results.paper = paper.run(endpoints, compilation, scratch, settings.runs, progress, settings.window_ends,
                                      settings.peers)
        if "service" in settings.workloads:
            results.service = service.run(endpoints.api_url, settings.baseline_url, endpoints.first_compilation,
                                          compilation.sample_total(), settings.service_seconds, progress,
                                          compilation.junctions_path, scratch)
        if "load" in settings.workloads:
            results.load = load.run(compilation, scratch, settings.runs, progress)
        if "genes" in settings.workloads:
            results.genes = genes.run(endpoints.api_url, endpoints.first_compilation, compilation, settings.runs, progress)
        if "names" in settings.workloads:
            results.names = names.run(compilation, scratch, settings.runs, progress, settings.names_samples)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return report.write(directory, description, results, settings.runs), results
