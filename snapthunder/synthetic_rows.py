"""The text columns of a generated junction row: strand and motifs, annotation flags, coverage statistics.

synthetic_positions.py draws where junctions are and synthetic.py which
samples cover them; this module turns those draws into Snaptron's column texts,
vectorised over a chunk of rows (numpy arrays of ready-made strings indexed
by the draws), because per-row string formatting is what made generation slow.
"""

from __future__ import annotations

import numpy

MOTIF_CHOICES = (
    ("+", "GT", "AG", 0.495 * 0.95), ("+", "GC", "AG", 0.495 * 0.04),
    ("+", "AT", "AC", 0.495 * 0.01),
    ("-", "CT", "AC", 0.495 * 0.95), ("-", "CT", "GC", 0.495 * 0.04),
    ("-", "GT", "AT", 0.495 * 0.01),
    ("?", "GG", "TT", 0.0025), ("?", "CA", "TG", 0.0025),
    ("?", "AA", "AG", 0.0025), ("?", "TC", "CC", 0.0025),
)
LOWER_CASE_MOTIF_FRACTION = 0.1
ANNOTATED_FRACTION = 0.3
PARTIALLY_ANNOTATED_FRACTION = 0.2
ANNOTATION_SOURCE_CODES = ("aC19", "cG19", "gC19", "gC38", "kG19", "rG19", "sG19")


MOTIF_STRANDS = numpy.array([choice[0] for choice in MOTIF_CHOICES], dtype=object)
MOTIF_LEFT_TEXTS = numpy.array(
    [choice[1] for choice in MOTIF_CHOICES] + [choice[1].lower() for choice in MOTIF_CHOICES], dtype=object
)
MOTIF_RIGHT_TEXTS = numpy.array(
    [choice[2] for choice in MOTIF_CHOICES] + [choice[2].lower() for choice in MOTIF_CHOICES], dtype=object
)
MOTIF_PROBABILITIES = numpy.array([choice[3] for choice in MOTIF_CHOICES]) / sum(choice[3] for choice in MOTIF_CHOICES)
ANNOTATION_TEXTS = numpy.array(
    ["0"] + [
        ",".join(code for bit, code in enumerate(ANNOTATION_SOURCE_CODES) if mask >> bit & 1)
        for mask in range(1, 2 ** len(ANNOTATION_SOURCE_CODES))
    ],
    dtype=object,
)
FRACTION_TEXTS = [("." + f"{thousandths:03d}".rstrip("0")) if thousandths else ".0" for thousandths in range(1000)]


def coverage_statistics(read_counts: numpy.ndarray, offsets: numpy.ndarray) -> tuple[numpy.ndarray, numpy.ndarray]:
    """Return per-row (coverage_sum, coverage_median) of the flattened read counts."""
    row_sizes = numpy.diff(offsets)
    row_of_entry = numpy.repeat(numpy.arange(row_sizes.size), row_sizes)
    sums = numpy.add.reduceat(read_counts, offsets[:-1])
    ascending = read_counts[numpy.lexsort((read_counts, row_of_entry))]
    lower_middle = ascending[offsets[:-1] + (row_sizes - 1) // 2]
    upper_middle = ascending[offsets[:-1] + row_sizes // 2]
    return sums, (lower_middle + upper_middle) / 2.0


def decimal_texts(values: numpy.ndarray) -> list[str]:
    """Print floats as Snaptron does (`3.0`, `4.5`, `4.622`): 3 decimals, trailing zeros cut."""
    whole, thousandths = numpy.divmod(numpy.rint(values * 1000).astype(numpy.int64), 1000)
    return [f"{units}{FRACTION_TEXTS[fraction]}" for units, fraction in zip(whole.tolist(), thousandths.tolist())]


def row_texts(entry_texts: list[str], offsets: numpy.ndarray) -> list[str]:
    """Join the flattened per-entry texts into one string per row."""
    bounds = offsets.tolist()
    return ["".join(entry_texts[begin:end]) for begin, end in zip(bounds[:-1], bounds[1:])]


def draw_motifs(random: numpy.random.Generator, rows: int) -> tuple[list[str], list[str], list[str]]:
    """Return (strand, left_motif, right_motif) texts: canonical on the strand, sometimes lower-case."""
    choice = random.choice(len(MOTIF_CHOICES), rows, p=MOTIF_PROBABILITIES)
    case_shift = (random.random(rows) < LOWER_CASE_MOTIF_FRACTION) * len(MOTIF_CHOICES)
    return (
        MOTIF_STRANDS[choice].tolist(),
        MOTIF_LEFT_TEXTS[choice + case_shift].tolist(),
        MOTIF_RIGHT_TEXTS[choice + case_shift].tolist(),
    )


def draw_annotations(random: numpy.random.Generator, rows: int) -> tuple[list[int], list[str], list[str]]:
    """Return (annotated, left_annotated, right_annotated).

    Annotated junctions carry source codes on both ends; some unannotated
    ones have an annotated end, as novel junctions joining known exons do.
    """
    annotated = random.random(rows) < ANNOTATED_FRACTION
    side_texts = []
    for _ in range(2):
        has_codes = annotated | (random.random(rows) < PARTIALLY_ANNOTATED_FRACTION)
        masks = random.integers(1, ANNOTATION_TEXTS.size, rows) * has_codes
        side_texts.append(ANNOTATION_TEXTS[masks].tolist())
    return annotated.astype(int).tolist(), side_texts[0], side_texts[1]
