"""The issue's goals, evaluated on one run's figures: met, missed by how much, or not measured and why.

Paper: the API's `simple` and `filter` at 25 Mb at least 1.5× faster than
peer 1, its counts no slower, and every shape within 2× of the floor; the same
figures for direct SQL (peer 4) are shown beside them for information. Service:
median latency at least 5× lower than the original design's serving, at least
300 requests/s with 8 clients, no errors. Load: the loader at least 85% of the
raw-COPY floor's rows/s on the whole file. Genes (issue 10): `/genes` on a
gene-sized region as fast as `/snaptron` on it. Names: every sfilter clause's
median under 50 ms over 316,000 samples; a gene name (and a gene id) within
1.1× of the same query by coordinates.
"""

from __future__ import annotations

import dataclasses

from bench.genes import GenesRow
from bench.load import LOADER, LoadRow
from bench.names import NamesRow, ratios
from bench.paper import PaperRow
from bench.peers import SnapthunderApi, SnapthunderSql
from bench.queries import SHAPES, WINDOW_ENDS
from bench.service import CLIENT_LEVELS, ServiceRow

WIDEST_MB = WINDOW_ENDS[-1] / 1e6
SPEEDUP_TARGETS = {"simple": 1.5, "filter": 1.5, "simplecount": 1.0, "filtercount": 1.0}
FLOOR_MULTIPLE = 2.0
LATENCY_RATIO = 5.0
THROUGHPUT_CLIENTS = 8
THROUGHPUT = 300.0
LOAD_SHARE = 0.85
GENES_RATIO = 1.0
SFILTER_MS = 50.0
NAME_RATIO = 1.1


@dataclasses.dataclass(frozen=True)
class Goal:
    workload: str
    statement: str
    measured: float | None
    target: float
    at_least: bool
    unit: str
    informational: bool = False

    def verdict(self) -> str:
        if self.measured is None:
            return "not measured"
        met = self.measured >= self.target if self.at_least else self.measured <= self.target
        if met:
            return "met"
        if self.at_least:
            return f"missed by {(self.target - self.measured) / self.target:.0%} (needs {self.target / self.measured:.2f}× more)"
        if self.target == 0:
            return f"missed: {self.measured:g} instead of 0"
        return f"missed by {(self.measured - self.target) / self.target:.0%} (needs {self.measured / self.target:.2f}× less)"


def paper_goals(rows: list[PaperRow]) -> list[Goal]:
    at_widest = {(row.shape, row.peer): row for row in rows if row.window_mb == WIDEST_MB}
    goals = []
    for peer, informational in ((SnapthunderApi.name, False), (SnapthunderSql.name, True)):
        who = "API" if peer == SnapthunderApi.name else "direct SQL"
        for shape in SHAPES:
            row = at_widest.get((shape, peer))
            target = SPEEDUP_TARGETS[shape]
            wording = f"≥ {target:g}× faster than" if target > 1 else "no slower than"
            goals.append(Goal("paper", f"{who} `{shape}` at {WIDEST_MB:g} Mb {wording} peer 1 (speed-up)",
                              row and row.speedup_vs_original, target, True, "×", informational))
        for shape in SHAPES:
            row, floor = at_widest.get((shape, peer)), at_widest.get((shape, "floor"))
            multiple = row.median_seconds / floor.median_seconds if row and floor else None
            goals.append(Goal("paper", f"{who} `{shape}` at {WIDEST_MB:g} Mb within {FLOOR_MULTIPLE:g}× of the floor",
                              multiple, FLOOR_MULTIPLE, False, "× floor", informational))
    goals.append(Goal("paper", "row counts agree across peers (queries where they do not)",
                      float(len(disagreements(rows))), 0, False, "queries"))
    return goals


def disagreements(rows: list[PaperRow]) -> list[tuple[str, float]]:
    """(shape, window) pairs where peers' row counts differ; the floor's counts are not rows and are left out."""
    answers: dict[tuple[str, float], set[int]] = {}
    for row in rows:
        if row.rows is not None:
            answers.setdefault((row.shape, row.window_mb), set()).add(row.rows)
    return [key for key, values in answers.items() if len(values) > 1]


def service_goals(rows: list[ServiceRow]) -> list[Goal]:
    by_key = {(row.server, row.clients): row for row in rows}
    goals = []
    for clients in CLIENT_LEVELS:
        ours, theirs = by_key.get(("snapthunder", clients)), by_key.get(("original", clients))
        ratio = theirs.p50_ms / ours.p50_ms if ours and theirs else None
        goals.append(Goal("service", f"median latency with {clients} clients ≥ {LATENCY_RATIO:g}× lower than the "
                                     "original design's serving", ratio, LATENCY_RATIO, True, "×"))
    ours = by_key.get(("snapthunder", THROUGHPUT_CLIENTS))
    goals.append(Goal("service", f"≥ {THROUGHPUT:g} requests/s with {THROUGHPUT_CLIENTS} clients",
                      ours and ours.requests_per_second, THROUGHPUT, True, "req/s"))
    errors = [row.errors for row in rows if row.server == "snapthunder"]
    goals.append(Goal("service", "zero errors", float(sum(errors)) if errors else None, 0, False, "errors"))
    return goals


def load_goals(rows: list[LoadRow]) -> list[Goal]:
    whole = [row for row in rows if row.fraction == 1.0 and row.contender == LOADER]
    return [Goal("load", f"loader into {row.shards} shard{'s' * (row.shards > 1)} ≥ {LOAD_SHARE:.0%} of the raw-COPY "
                         "floor's rows/s (whole file)", row.share_of_copy_floor, LOAD_SHARE, True, "of floor")
            for row in whole] or [Goal("load", f"loader ≥ {LOAD_SHARE:.0%} of the raw-COPY floor's rows/s",
                                       None, LOAD_SHARE, True, "of floor")]



def genes_goals(rows: list[GenesRow]) -> list[Goal]:
    genes = next((row for row in rows if row.endpoint == "genes"), None)
    return [Goal("genes", "`/genes` on gene-sized regions as fast as `/snaptron` on them (time ratio)",
                 genes and genes.ratio_to_snaptron, GENES_RATIO, False, "× /snaptron")]


def names_goals(rows: list[NamesRow]) -> list[Goal]:
    sfilter = [row.median_ms for row in rows if row.measure == "sfilter"]
    found = ratios(rows)
    samples = rows[0].samples if rows else 0
    return [Goal("names", f"sfilter over {samples:,} samples: slowest clause's median < {SFILTER_MS:g} ms",
                 max(sfilter) if sfilter else None, SFILTER_MS, False, "ms"),
            Goal("names", f"gene name within {NAME_RATIO:g}× of its coordinates (median over genes)",
                 found["name"], NAME_RATIO, False, "×"),
            Goal("names", f"GENCODE gene id within {NAME_RATIO:g}× of its span with exact=1 (median over genes)",
                 found["gene id"], NAME_RATIO, False, "×")]
