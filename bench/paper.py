"""The paper workload: Snaptron's four query shapes over ten chr1 windows, every peer side by side.

For each query every peer (see bench.peers) and the floor (bench.floor) run in
the same rounds; each figure is the median of the kept runs and every peer's
time is also given as a speed-up over peer 1, the original design. Before any
timing, peer 4 and peer 1 must count the same junctions in the widest window:
if the shards do not hold the compilation the peers were built from, every
ratio would compare different data, so the workload stops and says so.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import sys
from pathlib import Path

from bench import BenchError
from bench.compilation import Compilation
from bench.floor import QueryFloor, local_superuser
from bench.measure import progress_bar, side_by_side
from bench.peers import OriginalPostgres, OriginalSqlite, SnapthunderApi, SnapthunderSql, Tabix
from bench.queries import CHROMOSOME, WINDOW_ENDS, PaperQuery, paper_queries
from snapthunder.endpoints import Endpoints


@dataclasses.dataclass(frozen=True)
class PaperRow:
    shape: str
    window_mb: float
    peer: str
    rows: int | None
    paper_rows: int | None
    median_seconds: float
    runs: int
    speedup_vs_original: float


@dataclasses.dataclass
class PaperResult:
    rows: list[PaperRow]
    peer_labels: dict[str, str]
    floor_method: str
    notes: list[str]


PEER_NAMES = tuple(peer.name for peer in (OriginalPostgres, OriginalSqlite, Tabix, SnapthunderSql, SnapthunderApi))
# Every run needs these: each ratio is over peer 1, and the data check compares peer 4 with it.
REQUIRED_PEERS = (OriginalPostgres.name, SnapthunderSql.name)


def run(endpoints: Endpoints, compilation: Compilation, scratch: Path, runs: int, progress: bool,
        window_ends: tuple[int, ...] = WINDOW_ENDS, peer_names: tuple[str, ...] = PEER_NAMES) -> PaperResult:
    """Time every query on the chosen peers (peer 1 always: every ratio is over it) and the floor."""
    left_out = [name for name in PEER_NAMES if name not in peer_names]
    notes: list[str] = [f"peers left out of this run (`--peers`): {', '.join(left_out)}."] if left_out else []
    with contextlib.ExitStack() as stack:
        peers, floor = _open_peers(endpoints, compilation, scratch, notes, progress, stack, peer_names)
        _check_same_data(peers, endpoints, compilation)
        contenders = peers + [floor]
        queries = paper_queries(window_ends)
        rows = []
        with progress_bar(len(queries) * len(contenders) * (runs + 1), "paper", progress) as bar:
            for query in queries:
                timings = side_by_side({peer.name: functools.partial(peer.run, query) for peer in contenders},
                                       runs, bar)
                original = timings[OriginalPostgres.name].median
                rows += [
                    PaperRow(query.shape, query.window_end / 1e6, name, timing.result, query.paper_rows(),
                             timing.median, len(timing.seconds), original / timing.median)
                    for name, timing in timings.items()
                ]
        labels = {peer.name: peer.label for peer in contenders}
        return PaperResult(rows, labels, floor.method, notes)


def _open_peers(endpoints: Endpoints, compilation: Compilation, scratch: Path, notes: list[str], progress: bool,
                stack: contextlib.ExitStack, peer_names: tuple[str, ...]) -> tuple[list, QueryFloor]:
    """Build the chosen peers (closed by `stack`); peer 5 only when the document names the API."""
    shard = endpoints.shards[endpoints.plan().shard_for(CHROMOSOME)]
    junctions = compilation.junctions_path
    builders = [
        (OriginalPostgres, "the original design's table (a copy of the whole compilation in one table)",
         lambda: OriginalPostgres(shard, junctions, endpoints.first_compilation)),
        (OriginalSqlite, "the SQLite database", lambda: OriginalSqlite(junctions, scratch / "original.sqlite")),
        (Tabix, "the tabix reader", lambda: Tabix(junctions)),
        (SnapthunderSql, "snapthunder's shard connection",
         lambda: SnapthunderSql(shard, endpoints.reader, endpoints.first_compilation)),
    ]
    if endpoints.api_url:
        builders.append((SnapthunderApi, "the API client",
                         lambda: SnapthunderApi(endpoints.api_url, endpoints.first_compilation)))
    elif SnapthunderApi.name in peer_names:
        notes.append("peer 5 (snapthunder through the HTTP API) skipped: the endpoints document has no `api_url` "
                     "(start the API, or deploy it, and run again); the API goals are not measured.")
    peers = []
    for peer_type, description, build in builders:
        if peer_type.name not in peer_names:
            continue
        if progress:
            print(f"paper: preparing {description}...", file=sys.stderr)
        peer = build()
        stack.callback(peer.close)
        peers.append(peer)
    floor = QueryFloor(shard, local_superuser(endpoints), endpoints.reader, endpoints.first_compilation)
    stack.callback(floor.close)
    return peers, floor


def _check_same_data(peers: list, endpoints: Endpoints, compilation: Compilation) -> None:
    widest = PaperQuery("simplecount", WINDOW_ENDS[-1])
    by_name = {peer.name: peer for peer in peers}
    original = by_name[OriginalPostgres.name].run(widest)
    shard = by_name[SnapthunderSql.name].run(widest)
    if original != shard:
        shard_name = endpoints.plan().shard_for(CHROMOSOME)
        raise BenchError(
            f"{shard_name} holds {shard:,} {CHROMOSOME} junctions ending by {WINDOW_ENDS[-1]:,}, the compilation "
            f"in {compilation.directory} holds {original:,}: the shards hold other data. Load it first "
            f"(python -m loaders {compilation.junctions_path} --outputs ...) or run the bench with --load")
