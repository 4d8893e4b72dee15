"""A cross-compilation union of junction rows, computed as Snaptron's clients compute it.

Snaptron has no server-side join: the Python client's `--datasrc gtex,tcga`
(and snapcount's `junction_union`) fetch each compilation's rows for the
same regions and merge them (SNAPTRON-WIRE.md §13): rows with the same
chromosome, start and end (and strand) become one, whose snaptron_ids are
joined with `:`, sample lists concatenated, samples_count and coverage_sum
added, coverage_avg = sum / count and coverage_median recomputed over the
merged counts, source_dataset_id joined with `,`; output sorted by key. It
relies on the compilations' rail_ids being disjoint. The demo shows it over
its two compilations.
"""

from __future__ import annotations

import statistics
from typing import Iterable, Mapping

from snapthunder.junctions import COLUMNS

_ID, _CHROMOSOME, _START, _END, _STRAND = (COLUMNS.index(name) for name in
                                           ("snaptron_id", "chromosome", "start", "end", "strand"))
_SAMPLES, _COUNT, _SUM, _AVERAGE, _MEDIAN, _SOURCE = (COLUMNS.index(name) for name in (
    "samples", "samples_count", "coverage_sum", "coverage_avg", "coverage_median", "source_dataset_id"))


def union(answers: Mapping[str, Iterable[list[str]]]) -> list[list[str]]:
    """Compilation → its rows (the 17 junction columns, as TSV cells) → the merged rows, sorted by key."""
    merged: dict[tuple, list[str]] = {}
    for rows in answers.values():
        for row in rows:
            key = (row[_CHROMOSOME], int(row[_START]), int(row[_END]), row[_STRAND])
            if key not in merged:
                merged[key] = list(row)
                continue
            into = merged[key]
            into[_ID] += ":" + row[_ID]
            into[_SAMPLES] += row[_SAMPLES]
            into[_COUNT] = str(int(into[_COUNT]) + int(row[_COUNT]))
            into[_SUM] = str(int(into[_SUM]) + int(row[_SUM]))
            into[_SOURCE] += "," + row[_SOURCE]
    for row in merged.values():
        if ":" in row[_ID]:
            counts = [int(entry.split(":")[1]) for entry in row[_SAMPLES].strip(",").split(",")]
            row[_AVERAGE] = f"{int(row[_SUM]) / int(row[_COUNT]):.3f}"
            row[_MEDIAN] = f"{statistics.median(counts):.1f}"
    return [merged[key] for key in sorted(merged)]
