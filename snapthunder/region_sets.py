"""A query's regions grouped by chromosome once and merged into what one statement probes.

A request may name 10,000 regions (max_request_items), on one chromosome or
on 10,000 contigs, in one selection or in 10,000 bulk selections. Two costs
used to grow with the square of that: every chromosome's statement filtered
the whole region list again, and the SQL held one OR branch per region,
which PostgreSQL plans and evaluates branch by branch (10,000 regions on one
chromosome ran past the 30 s statement timeout; measured). Here:

* `IndexedQuery` groups the regions by chromosome in one pass, and the
  selections that differ only in their regions (same modifiers, filters and
  ids: the usual bulk request) into one *group*.
* Per chromosome, each group's regions are merged, as its mode allows, into
  sorted arrays `lows`, `highs` with one membership test for every mode:
  `check <= highs[width_bucket(probe, lows)]` (width_bucket is a binary
  search: the last low at or below `probe`). The SQL is the same size for 1
  region as for 10,000; the values travel as two arrays.
* The *windows*, the merged spans where a wanted row's start can lie, are
  what the statement reads: one index probe each (statements.py).

Modes (Snaptron's, SNAPTRON.md): a row [s, e] and region [S, E] —

| mode | takes the row when | merged regions | probe, check |
|---|---|---|---|
| overlap | s ≤ E and e ≥ S | overlapping or adjacent joined | e, s |
| start (either=1) | S ≤ s ≤ E | joined | s, s |
| end (either=2) | S ≤ e ≤ E | joined | e, e |
| contains | S ≤ s and e ≤ E | regions inside another dropped | s, e |
| exact | s = S and e = E | distinct (S, E) as one number | key, key |

Joining is exact for the first three (the row's test is on the union); for
contains, once regions inside others are dropped, starts and ends both rise,
so the one region that can contain a row is the last starting at or before
its start.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable

from snapthunder.filters import RangeFilter
from snapthunder.query import MAX_COORDINATE, Query, Region, Selection

# exact's key: start × 2^31 + end, in start-then-end order (coordinates are below 2^31).
EXACT_KEY_FACTOR = MAX_COORDINATE + 1
# Modes whose rows may start before the region: their windows reach back by the chromosome's longest junction.
REACHING_BACK = ("overlap", "end")
# The table's last column: per mode, the value searched for in `lows` and the one compared with `highs`.
PROBE_AND_CHECK = {"overlap": ("end", "start"), "start": ("start", "start"), "end": ("end", "end"),
                   "contains": ("start", "end"), "exact": ("key", "key")}


@dataclasses.dataclass(frozen=True)
class RegionTest:
    """Selections that share mode, filters and ids, with their regions on one chromosome merged."""

    mode: str
    lows: tuple[int, ...]
    highs: tuple[int, ...]
    filters: tuple[RangeFilter, ...]
    ids: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class OnChromosome:
    """What one chromosome's statement reads and tests.

    `windows` are disjoint (low, high) spans of starts in order, or None when
    some selection has no region and the whole chromosome is read;
    `reach_back` says the windows must also take rows starting up to the
    longest junction before them; `unplaced` are the selections without regions.
    """

    tests: tuple[RegionTest, ...]
    unplaced: tuple[Selection, ...]
    windows: tuple[tuple[int, int], ...] | None
    reach_back: bool


class IndexedQuery:
    """A Query with its regions grouped by chromosome (one pass over them) and selections grouped."""

    def __init__(self, query: Query) -> None:
        # Names stand for regions and samples the shards must be asked for first (the API's names.py):
        # unresolved, a gene-only query would read every row and an sfilter would project on nothing.
        if query.sample_filters or query.sample_groups or any(selection.genes for selection in query.selections):
            raise ValueError("a query's gene names, sample groups and sfilter must be resolved before it is indexed")
        self.query = query
        self._regions: dict[str, dict[tuple, list[Region]]] = {}
        unplaced: dict[tuple, Selection] = {}
        for selection in query.selections:
            if not selection.regions:
                unplaced.setdefault((selection.filters, selection.ids), selection)
                continue
            group = (mode(selection), selection.filters, selection.ids)
            for region in selection.regions:
                self._regions.setdefault(region.chromosome, {}).setdefault(group, []).append(region)
        self._unplaced = tuple(unplaced.values())

    def on(self, chromosome: str) -> OnChromosome:
        """The chromosome's merged tests and windows: work linear in its regions (after sorting them)."""
        tests, spans = [], []
        for (group_mode, filters, ids), regions in self._regions.get(chromosome, {}).items():
            lows, highs = _merged(group_mode, regions)
            tests.append(RegionTest(group_mode, lows, highs, filters, ids))
            spans += _spans(group_mode, lows, highs)
        windows = None if self._unplaced else tuple(_joined(spans))
        return OnChromosome(tuple(tests), self._unplaced, windows,
                            any(test.mode in REACHING_BACK for test in tests))


def mode(selection: Selection) -> str:
    """The one test a selection's modifiers amount to (exact implies contains; contains implies either)."""
    if selection.exact:
        return "exact"
    if selection.contains:
        return "contains"
    return {1: "start", 2: "end"}.get(selection.either, "overlap")


def _merged(group_mode: str, regions: list[Region]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The sorted `lows`, `highs` arrays of one group's regions (see the table above)."""
    if group_mode == "exact":
        keys = tuple(sorted({region.start * EXACT_KEY_FACTOR + region.end for region in regions}))
        return keys, keys
    if group_mode == "contains":
        kept: list[tuple[int, int]] = []
        for region in sorted(regions, key=lambda region: (region.start, -region.end)):
            if not kept or region.end > kept[-1][1]:
                kept.append((region.start, region.end))
        return tuple(start for start, _ in kept), tuple(end for _, end in kept)
    joined = list(_joined((region.start, region.end) for region in regions))
    return tuple(low for low, _ in joined), tuple(high for _, high in joined)


def _spans(group_mode: str, lows: tuple[int, ...], highs: tuple[int, ...]) -> Iterable[tuple[int, int]]:
    """Where a row the group takes can start (before reaching back): its regions, or exact's starts."""
    if group_mode == "exact":
        return ((key // EXACT_KEY_FACTOR, key // EXACT_KEY_FACTOR) for key in lows)
    return zip(lows, highs)


def _joined(spans: Iterable[tuple[int, int]]) -> Iterable[tuple[int, int]]:
    """Integer spans sorted, overlapping or adjacent ones joined."""
    low, high = None, None
    for start, end in sorted(spans):
        if high is not None and start <= high + 1:
            high = max(high, end)
            continue
        if high is not None:
            yield low, high
        low, high = start, end
    if high is not None:
        yield low, high
