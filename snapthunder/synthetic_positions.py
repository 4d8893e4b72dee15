"""Where the generated junctions lie and how many samples each has: the paper's calibration on chr1.

synthetic.py writes the junction rows; this module decides their positions
and sample counts. On chr1 the number of junctions with `end <= E` follows
the paper's benchmark table (piecewise-linear between its points), both for
all junctions and for those with `samples_count >= 100`, so the benchmark's
windows return paper-sized result sets (bench/queries.py reads the same
table). Elsewhere a flat background density fills the genome. Intron
lengths are log-normal and sample counts power-law, with a few ubiquitous
junctions and shared donor sites, as in GTEx.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy

from snapthunder.plan import GRCH38_LENGTHS

# The assembled chromosomes' lengths come from the shard plan (one table for the
# project); the contigs are the few alt/unplaced ones every compilation carries.
GRCH38_SEQUENCE_LENGTHS = {
    **GRCH38_LENGTHS,
    "chr1_KI270706v1_random": 175_055, "chr14_GL000009v2_random": 201_709,
    "chrUn_GL000220v1": 161_802, "chrEBV": 171_823,
}
CALIBRATED_CHROMOSOME = "chr1"


class CalibrationPoint(NamedTuple):
    """One row of the paper's benchmark table: junctions with `end <= window_end`."""

    window_end: int
    simple_rows: int
    filter_rows: int


PAPER_CHR1_COUNTS = (
    CalibrationPoint(0, 0, 0),
    CalibrationPoint(2_500_000, 150_134, 5_569),
    CalibrationPoint(5_000_000, 228_415, 7_345),
    CalibrationPoint(10_000_000, 315_875, 10_303),
    CalibrationPoint(15_000_000, 394_207, 13_161),
    CalibrationPoint(20_000_000, 511_190, 17_657),
    CalibrationPoint(25_000_000, 618_876, 21_824),
)
FILTER_MINIMUM_SAMPLES = 100
BACKGROUND_WIDE_FRACTION = PAPER_CHR1_COUNTS[-1].filter_rows / PAPER_CHR1_COUNTS[-1].simple_rows
UBIQUITOUS_FRACTION = 3e-5
UBIQUITOUS_MINIMUM_SHARE = 0.9

MINIMUM_INTRON_LENGTH = 20
MAXIMUM_DRAWN_INTRON_LENGTH = 800_000
SHARED_START_FRACTION = 0.1
SHARED_START_REACH = 10_000
# A compilation generated beside another takes this share of each chromosome's junctions from the other's.
SHARED_JUNCTION_FRACTION = 0.5
NARROW_SAMPLES_EXPONENT = 1.6
WIDE_SAMPLES_EXPONENT = 2.3


class Segment(NamedTuple):
    """Junctions whose `end` falls uniformly in (end_low, end_high]; wide_rows have >= 100 samples."""

    end_low: int
    end_high: int
    rows: int
    wide_rows: int


def expected_chr1_counts(window_end: float, scale: float = 1.0) -> tuple[float, float]:
    """Return (simple, filter) junction counts with `end <= window_end` on chr1.

    The paper gives six windows; the benchmark also asks for the windows in
    between, so the curve is linear between the given points (as generated).
    """
    window_ends = [point.window_end for point in PAPER_CHR1_COUNTS]
    simple = numpy.interp(window_end, window_ends, [point.simple_rows for point in PAPER_CHR1_COUNTS])
    filtered = numpy.interp(window_end, window_ends, [point.filter_rows for point in PAPER_CHR1_COUNTS])
    return float(simple) * scale, float(filtered) * scale


def chromosome_segments(chromosome: str, scale: float, background_per_mb: float) -> list[Segment]:
    """Plan how many junctions end where, so that the chr1 counts match the paper.

    chr1's calibrated windows use cumulative rounding so that every paper
    window is hit exactly; every other stretch gets the background density
    with the paper's overall wide fraction, and at least one junction so that
    even tiny runs exercise every sequence.
    """
    length = GRCH38_SEQUENCE_LENGTHS[chromosome]
    segments = []
    background_start = 0
    if chromosome == CALIBRATED_CHROMOSOME:
        previous = PAPER_CHR1_COUNTS[0]
        for point in PAPER_CHR1_COUNTS[1:]:
            rows = round(point.simple_rows * scale) - round(previous.simple_rows * scale)
            wide_rows = min(rows, round(point.filter_rows * scale) - round(previous.filter_rows * scale))
            segments.append(Segment(previous.window_end, point.window_end, rows, wide_rows))
            previous = point
        background_start = previous.window_end
    background_rows = max(1, round((length - background_start) / 1e6 * background_per_mb * scale))
    background_wide_rows = round(background_rows * BACKGROUND_WIDE_FRACTION)
    segments.append(Segment(background_start, length, background_rows, background_wide_rows))
    return segments


def draw_intron_lengths(random: numpy.random.Generator, count: int) -> numpy.ndarray:
    """Log-normal lengths: most 100 bp–10 kb, a few hundred kb, none near 1 Mb.

    Out-of-range draws are redrawn rather than clipped, so no length is
    over-represented at the bounds.
    """
    lengths = numpy.zeros(count, dtype=numpy.int64)
    out_of_range = numpy.ones(count, dtype=bool)
    while out_of_range.any():
        log_lengths = random.normal(3.1, 0.65, int(out_of_range.sum()))
        lengths[out_of_range] = numpy.rint(10.0 ** log_lengths)
        out_of_range = (lengths < MINIMUM_INTRON_LENGTH) | (lengths > MAXIMUM_DRAWN_INTRON_LENGTH)
    return lengths


def draw_power_law(random: numpy.random.Generator, low: int, high: int, exponent: float, count: int) -> numpy.ndarray:
    """Integers in [low, high] with P(k) ∝ k^-exponent: the shape of samples_count."""
    values = numpy.arange(low, high + 1)
    weights = values.astype(float) ** -exponent
    return random.choice(values, count, p=weights / weights.sum())


def draw_samples_counts(random: numpy.random.Generator, rows: int, wide_rows: int, sample_total: int) -> numpy.ndarray:
    """Give exactly `wide_rows` of `rows` junctions >= 100 samples (the paper's filter).

    The exact split keeps the filter counts on target at any scale; a binomial
    few of the wide rows are ubiquitous (>= 90% of samples), like GTEx's
    constitutive junctions.
    """
    narrow_high = min(FILTER_MINIMUM_SAMPLES - 1, sample_total)
    wide_low = min(FILTER_MINIMUM_SAMPLES, sample_total)
    counts = draw_power_law(random, 1, narrow_high, NARROW_SAMPLES_EXPONENT, rows)
    counts[:wide_rows] = draw_power_law(random, wide_low, sample_total, WIDE_SAMPLES_EXPONENT, wide_rows)
    ubiquitous_rows = random.binomial(wide_rows, min(1.0, UBIQUITOUS_FRACTION / BACKGROUND_WIDE_FRACTION))
    ubiquitous_low = max(wide_low, math.ceil(UBIQUITOUS_MINIMUM_SHARE * sample_total))
    counts[:ubiquitous_rows] = random.integers(ubiquitous_low, sample_total + 1, ubiquitous_rows)
    return random.permutation(counts)


def draw_junction_positions(
    random: numpy.random.Generator, segments: list[Segment], sample_total: int
) -> tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """Return (starts, ends, samples_counts) of one chromosome, sorted by start then end.

    Ends are drawn per segment (the benchmark counts by end); starts follow
    from the intron length, redrawn to fit when it would cross position 1.
    Some junctions then take their neighbour's start, as alternative
    acceptors do, and exact duplicates are dropped because a junction is
    identified by its coordinates.
    """
    ends = numpy.concatenate(
        [random.integers(segment.end_low + 1, segment.end_high + 1, segment.rows) for segment in segments]
    )
    samples_counts = numpy.concatenate(
        [draw_samples_counts(random, segment.rows, segment.wide_rows, sample_total) for segment in segments]
    )
    lengths = draw_intron_lengths(random, ends.size)
    too_long = lengths > ends
    lengths[too_long] = random.integers(1, ends[too_long] + 1)
    starts = ends - lengths + 1
    order = numpy.lexsort((ends, starts))
    starts, ends, samples_counts = starts[order], ends[order], samples_counts[order]
    share_starts(random, starts)
    return _sorted_distinct(starts, ends, samples_counts)


def share_starts(random: numpy.random.Generator, starts: numpy.ndarray) -> None:
    """Give some junctions the start of the junction before them (in place).

    Only isolated rows are chosen, so each shared donor site is a clean pair,
    and only within SHARED_START_REACH, so intron lengths stay realistic.
    Starts are sorted, so the new start still precedes the junction's end.
    """
    chosen = random.random(starts.size) < SHARED_START_FRACTION
    chosen[0:1] = False
    chosen[1:] &= ~chosen[:-1]
    chosen[1:] &= (starts[1:] - starts[:-1]) <= SHARED_START_REACH
    rows = numpy.flatnonzero(chosen)
    starts[rows] = starts[rows - 1]


def share_positions(
    random: numpy.random.Generator, starts: numpy.ndarray, ends: numpy.ndarray, samples_counts: numpy.ndarray,
    other_starts: numpy.ndarray, other_ends: numpy.ndarray,
) -> tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """Give up to SHARED_JUNCTION_FRACTION of one chromosome's junctions the coordinates of another compilation's.

    Compilations of one genome share most of their junctions (the annotated
    introns above all), so a client's union of two (demo/union.py) merges
    rows; drawn apart, two generated ones shared none. The share is less
    when the other has fewer junctions there, and when a taken pair was
    already drawn. Each chosen row keeps its sample count. Returns the rows
    sorted by start then end again, exact duplicates dropped, with each
    row's index among the other's rows where the other has a junction at
    its coordinates (-1 where it has none): the row takes that junction's
    strand and motifs, since a client merges only rows of the same strand.
    """
    shared = min(round(starts.size * SHARED_JUNCTION_FRACTION), other_starts.size)
    if shared:
        rows = random.choice(starts.size, shared, replace=False)
        taken = random.choice(other_starts.size, shared, replace=False)
        starts, ends = starts.copy(), ends.copy()
        starts[rows], ends[rows] = other_starts[taken], other_ends[taken]
    starts, ends, samples_counts = _sorted_distinct(starts, ends, samples_counts)
    return starts, ends, samples_counts, _indexes_in(starts, ends, other_starts, other_ends)


def _indexes_in(starts: numpy.ndarray, ends: numpy.ndarray, other_starts: numpy.ndarray,
                other_ends: numpy.ndarray) -> numpy.ndarray:
    """Each (start, end)'s index among the other's junctions, -1 where the other has none there."""
    if other_starts.size == 0:
        return numpy.full(starts.size, -1, dtype=numpy.int64)
    # Coordinates fit in 31 bits (the shards' integer columns), so start * 2**31 + end is one exact key.
    keys, other_keys = starts * 2**31 + ends, other_starts * 2**31 + other_ends
    order = numpy.argsort(other_keys, kind="stable")
    sorted_keys = other_keys[order]
    found = numpy.minimum(numpy.searchsorted(sorted_keys, keys), order.size - 1)
    return numpy.where(sorted_keys[found] == keys, order[found], -1)


def _sorted_distinct(starts: numpy.ndarray, ends: numpy.ndarray, samples_counts: numpy.ndarray
                     ) -> tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """The rows sorted by start then end, each coordinate pair once: a junction is identified by its coordinates."""
    order = numpy.lexsort((ends, starts))
    starts, ends, samples_counts = starts[order], ends[order], samples_counts[order]
    distinct = numpy.ones(starts.size, dtype=bool)
    distinct[1:] = (starts[1:] != starts[:-1]) | (ends[1:] != ends[:-1])
    return starts[distinct], ends[distinct], samples_counts[distinct]
