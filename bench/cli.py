"""`python -m bench`: the command line of the benchmark.

    python -m bench (--outputs PATH | --stack NAME [--port-forward])
                    [--workloads paper,service,load,genes,names] [--quick] [--results DIR] [--data DIR]
                    [--load] [--runs N] [--service-seconds S] [--windows MB,...] [--peers LIST]
                    [--baseline-url URL] [--debug]

Errors are caught here, once: one line on stderr, exit 2 for usage errors and
1 for data, I/O and connection errors; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from pathlib import Path

import psycopg2

from bench import BenchError, compilation, names, paper, report, runner
from bench.api_client import ApiError
from bench.measure import MINIMUM_RUNS
from bench.queries import WINDOW_ENDS
from loaders.shard_writer import ShardLoadError
from loaders.source import SourceError
from snapthunder.endpoints import EndpointsError
from snapthunder.localenv import LocalEnvironmentError
from snapthunder.postgres_server import ServerError
from snapthunder.synthetic import InvalidParameter
from snapthunder.targets import add_target_arguments, open_target

DEFAULT_RESULTS = Path("bench-results")
SERVICE_SECONDS = 10.0
QUICK_SERVICE_SECONDS = 2.0
RUN_ERRORS = (BenchError, EndpointsError, LocalEnvironmentError, ServerError, SourceError, ShardLoadError, ApiError,
              InvalidParameter, psycopg2.Error, sqlite3.Error, OSError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark a snapthunder deployment: the paper's table side by side with its peers, service "
                    "load through the API, and the loader against raw COPY. Writes a results directory per run.")
    add_target_arguments(parser)
    parser.add_argument("--workloads", type=_workloads, default=runner.WORKLOADS, metavar="LIST",
                        help=f"comma-separated, of {','.join(runner.WORKLOADS)} (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help=f"tiny data (scale {compilation.QUICK_SCALE:g}) and {QUICK_SERVICE_SECONDS:g} s service "
                             "levels: a run of under 3 minutes, what the test suite runs")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, metavar="DIR",
                        help=f"where the run's directory is made (default {DEFAULT_RESULTS})")
    parser.add_argument("--data", type=Path, metavar="DIR",
                        help="the compilation to use, generated there if DIR has none "
                             "(default .snapthunder/bench-data/scale-S, S the scale)")
    parser.add_argument("--load", action="store_true",
                        help="load the compilation into the target's shards first; this REPLACES their chromosomes")
    parser.add_argument("--runs", type=_at_least(MINIMUM_RUNS), default=MINIMUM_RUNS, metavar="N",
                        help=f"kept runs per contender, after a warm-up (at least {MINIMUM_RUNS}, the default)")
    parser.add_argument("--service-seconds", type=_positive_seconds, metavar="S",
                        help=f"duration of each service level (default {SERVICE_SECONDS:g}, "
                             f"{QUICK_SERVICE_SECONDS:g} with --quick)")
    parser.add_argument("--windows", type=_windows, default=WINDOW_ENDS, metavar="MB,...",
                        help="the paper's windows to run, in Mb (default all ten: 2.5,5,...,25)")
    parser.add_argument("--peers", type=_peers, default=paper.PEER_NAMES, metavar="LIST",
                        help=f"the paper workload's peers, comma-separated, of {','.join(paper.PEER_NAMES)} "
                             f"(default: all; {' and '.join(paper.REQUIRED_PEERS)} always run: every ratio is over "
                             "peer 1, and the data check compares peer 4 with it)")
    parser.add_argument("--baseline-url", metavar="URL",
                        help="a server of the original design speaking the same URLs, for the service ratio "
                             "(default: start one for the run)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        arguments = parser.parse_args(argv)
    except SystemExit as stop:
        return int(stop.code or 0)
    scale = compilation.QUICK_SCALE if arguments.quick else compilation.FULL_SCALE
    settings = runner.Settings(
        workloads=arguments.workloads,
        results_root=arguments.results,
        data_directory=arguments.data or compilation.default_directory(scale),
        scale=scale,
        runs=arguments.runs,
        load_first=arguments.load,
        service_seconds=arguments.service_seconds or (QUICK_SERVICE_SECONDS if arguments.quick else SERVICE_SECONDS),
        baseline_url=arguments.baseline_url,
        window_ends=arguments.windows,
        peers=arguments.peers,
        argv=tuple(argv),
        names_samples=names.QUICK_SAMPLE_TOTAL if arguments.quick else names.SAMPLE_TOTAL,
    )
    progress = sys.stderr.isatty() and not os.environ.get("CI")
    try:
        with open_target(arguments) as endpoints:
            report_path, results = runner.run(settings, endpoints, progress)
    except argparse.ArgumentTypeError as error:
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    except RUN_ERRORS as error:
        if arguments.debug:
            raise
        print(f"{parser.prog}: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 1
    print(f"report: {report_path}")
    for line in report.headline(results):
        print(f"  {line}")
    return 0


def _windows(text: str) -> tuple[int, ...]:
    try:
        chosen = tuple(round(float(number) * 1_000_000) for number in text.split(","))
    except ValueError:
        chosen = ()
    if not chosen or any(end not in WINDOW_ENDS for end in chosen):
        allowed = ",".join(f"{end / 1e6:g}" for end in WINDOW_ENDS)
        raise argparse.ArgumentTypeError(f"{text!r}: choose from the paper's windows {allowed}")
    return chosen


def _peers(text: str) -> tuple[str, ...]:
    chosen = {name.strip() for name in text.split(",") if name.strip()}
    unknown = sorted(chosen - set(paper.PEER_NAMES))
    if unknown:
        raise argparse.ArgumentTypeError(f"{', '.join(unknown)}: choose from {','.join(paper.PEER_NAMES)}")
    return tuple(name for name in paper.PEER_NAMES if name in chosen or name in paper.REQUIRED_PEERS)


def _workloads(text: str) -> tuple[str, ...]:
    chosen = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in chosen if name not in runner.WORKLOADS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"{text!r}: choose from {','.join(runner.WORKLOADS)}")
    return chosen


def _at_least(minimum: int):
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}")
        return value
    return parse


def _positive_seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value
