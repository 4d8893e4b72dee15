"""The junction row: Snaptron's 17 columns, and the check every loaded line passes.

Gene and exon rows (genes.bgz, exons.bgz) have the same columns with other
meanings for a few (snapthunder/features.py), so they are checked here too,
by their own ROW_FORMATS entry.

A line is checked by one compiled regular expression (C speed, one pass over
even a megabyte-long `samples` field) plus three arithmetic checks; only a line
that fails is taken apart again to say which column is wrong. A line that
passes is safe to hand to PostgreSQL's COPY text format as it is: no
backslash, no tab or control character inside a field, every number within
its column's type.
"""

from __future__ import annotations

import array
import dataclasses
import re

COLUMNS: tuple[str, ...] = (
    "snaptron_id", "chromosome", "start", "end", "length", "strand", "annotated",
    "left_motif", "right_motif", "left_annotated", "right_annotated", "samples",
    "samples_count", "coverage_sum", "coverage_avg", "coverage_median", "source_dataset_id",
)

# Field patterns. Digit counts keep integers inside int4 (9 digits) or int8 (18)
# and decimals inside what the numeric columns print back unchanged, so COPY
# cannot fail on a line that passed. Integers are canonical (no leading zero),
# the form PostgreSQL prints them in: a stored row is the file's line, byte for byte.
_INT = rb"(?:0|[1-9]\d{0,8})"
_BIGINT = rb"(?:0|[1-9]\d{0,17})"
_FLOAT = rb"\d{1,15}(?:\.\d{1,15})?(?:[eE][-+]?\d{1,2})?"
_TEXT = rb"[!-\[\]-~]{1,255}"   # printable ASCII but space and backslash
_SAMPLES = rb"(?:,\d{1,9}:\d{1,18})+"   # kept verbatim: any digits
FIELD_PATTERNS: tuple[bytes, ...] = (
    _BIGINT, _TEXT, _INT, _INT, _INT, rb"[-+?]", _TEXT,
    _TEXT, _TEXT, _TEXT, _TEXT, _SAMPLES,
    _INT, _BIGINT, _FLOAT, _FLOAT, _INT,
)
_INT_MEANING = "a whole number of at most 9 digits, no leading zero"
_BIGINT_MEANING = "a whole number of at most 18 digits, no leading zero"
_FIELD_MEANING: tuple[str, ...] = (
    _BIGINT_MEANING, "a chromosome name (printable, no spaces)", _INT_MEANING, _INT_MEANING,
    _INT_MEANING, "one of + - ?", "0, 1 or annotation sources", "a motif (printable, no spaces)", "a motif (printable, no spaces)",
    "0 or annotation codes", "0 or annotation codes", "a ,sid:count list starting with a comma",
    _INT_MEANING, _BIGINT_MEANING, "a decimal number", "a decimal number", _INT_MEANING,
)

# Snaptron's genes.bgz and exons.bgz (snapthunder/features.py) use the same 17 columns differently:
# columns 7-9 are empty, 10 is an exon count (empty in recount3 builds), 11 the gene's
# `gene_id:gene_name:gene_type:bp_length` (for exons possibly a `;`-list, so longer), and a
# gene no sample covers has an empty sample list. `length` is not end - start + 1 there
# (bp_length is the exonic length): it is not checked, and overlap bounds use end - start + 1.
_EMPTY_OR_TEXT = rb"[!-\[\]-~]{0,255}"
_EMPTY_OR_INT = rb"(?:" + _INT + rb")?"
_GENE_TEXT = rb"[ -\[\]-~]{0,65535}"
_COVERAGE_SAMPLES = rb"(?:,\d{1,9}:\d{1,18})*"
_COVERAGE_PATTERNS: tuple[bytes, ...] = (
    *FIELD_PATTERNS[:6], _EMPTY_OR_TEXT, _EMPTY_OR_TEXT, _EMPTY_OR_TEXT, _EMPTY_OR_INT, _GENE_TEXT,
    _COVERAGE_SAMPLES, *FIELD_PATTERNS[12:],
)
_COVERAGE_MEANING: tuple[str, ...] = (
    *_FIELD_MEANING[:6], "empty or printable text", "empty or printable text", "empty or printable text",
    "empty or " + _INT_MEANING, "gene_id:gene_name:gene_type:bp_length (printable, no tab)",
    "empty or a ,sid:count list starting with a comma", *_FIELD_MEANING[12:],
)

# The fast check captures only the columns it reads again (fewer groups, ~25% faster).
_CAPTURED = {"snaptron_id", "chromosome", "start", "end", "length", "samples", "samples_count"}


class RowFormat:
    """How the lines of one kind of file are checked: each column's pattern and meaning, compiled once."""

    def __init__(self, patterns: tuple[bytes, ...], meanings: tuple[str, ...], checks_length: bool) -> None:
        self.fields = tuple(re.compile(pattern) for pattern in patterns)
        self.meanings = meanings
        self.checks_length = checks_length
        line = b"\t".join((b"(" if name in _CAPTURED else b"(?:") + pattern + b")"
                           for name, pattern in zip(COLUMNS, patterns))
        self.line = re.compile(line)
        # The same, over a block of whole lines: a match starts at a line start and ends with its newline.
        self.lines = re.compile(b"^" + line + b"\n", re.MULTILINE)


# By name, so that checker processes are handed a name rather than compiled patterns.
ROW_FORMATS = {"junction": RowFormat(FIELD_PATTERNS, _FIELD_MEANING, checks_length=True),
               "coverage": RowFormat(_COVERAGE_PATTERNS, _COVERAGE_MEANING, checks_length=False)}


class BadLine(ValueError):
    """A line that is not a valid junction; the message names the column and the problem."""


@dataclasses.dataclass
class CheckedBlock:
    """A block of lines, checked: good lines as runs of one chromosome each, and the rejects.

    A run is where its lines stand in the block (newlines included: what COPY
    reads), not a copy of them, so a checker process sends back a few numbers
    per block rather than the block again. `ids` are the good lines'
    snaptron_ids in block order (8 bytes each), for the loader's check that
    no id repeats across the file (loaders/unique_ids.py).
    """

    lines: int
    runs: list[tuple[bytes, int, int, int]]        # (chromosome, start offset, end offset, row count)
    rejects: list[tuple[int, str, bytes]]          # (line number, reason, line)
    ids: array.array                               # signed 64-bit, one per row of the runs


def check(line: bytes, row_format: str = "junction") -> bytes:
    """The chromosome of a valid line (no trailing newline); raises BadLine otherwise."""
    rows_format = ROW_FORMATS[row_format]
    match = rows_format.line.fullmatch(line)
    if match is None:
        raise BadLine(_diagnose(line, rows_format))
    problem = _inconsistency(match, rows_format)
    if problem:
        raise BadLine(problem)
    return match[2]


def check_block(block: bytes, first_line_number: int, row_format: str = "junction") -> CheckedBlock:
    """Check a block of whole lines (each ending in a newline) with one regex scan.

    Lines that pass are kept in place and cut into runs where the chromosome
    changes; anything between two matches is one or more bad lines, diagnosed
    one by one. Block-wise checking avoids Python work per line for all but
    the arithmetic checks, and it can run in worker processes. `row_format`
    names one of ROW_FORMATS.
    """
    rows_format = ROW_FORMATS[row_format]
    runs: list[tuple[bytes, int, int, int]] = []
    rejects: list[tuple[int, str, bytes]] = []
    ids = array.array("q")
    run_start = position = rows = 0
    chromosome = b""
    for match in rows_format.lines.finditer(block):
        problem = _inconsistency(match, rows_format)
        if match.start() != position or problem or match[2] != chromosome:
            if rows:
                runs.append((chromosome, run_start, position, rows))
            if match.start() != position:
                _reject_lines(block, position, match.start(), first_line_number, rejects, rows_format)
            chromosome, run_start, rows = match[2], match.start(), 0
            if problem:
                line_number = first_line_number + block.count(b"\n", 0, match.start())
                rejects.append((line_number, problem, block[match.start():match.end() - 1]))
                run_start = match.end()
                chromosome = b""
        if not problem:
            rows += 1
            ids.append(int(match[1]))
        position = match.end()
    if rows:
        runs.append((chromosome, run_start, position, rows))
    if position != len(block):
        _reject_lines(block, position, len(block), first_line_number, rejects, rows_format)
    return CheckedBlock(block.count(b"\n"), runs, rejects, ids)


def _reject_lines(block: bytes, start: int, end: int, first_line_number: int, rejects: list,
                  rows_format: RowFormat) -> None:
    line_number = first_line_number + block.count(b"\n", 0, start)
    for offset, line in enumerate(block[start:end].split(b"\n")[:-1]):
        rejects.append((line_number + offset, _diagnose(line, rows_format), line))


def _inconsistency(match: re.Match, rows_format: RowFormat) -> str | None:
    """What is wrong between the columns of a well-formed line, if anything."""
    _, _, start, end, length, samples, samples_count = match.groups()
    start, end = int(start), int(end)
    if start < 1 or end < start:
        return f"start {start} and end {end}: need 1 <= start <= end"
    if rows_format.checks_length and int(length) != end - start + 1:
        return f"length {int(length)} is not end - start + 1 = {end - start + 1}"
    if samples.count(b",") != int(samples_count):
        return f"samples_count {int(samples_count)} but samples lists {samples.count(b',')} samples"
    return None


def _diagnose(line: bytes, rows_format: RowFormat) -> str:
    """Why `line` failed the fast check: the first column at fault, by name."""
    if not line.strip():
        return "empty line"
    fields = line.split(b"\t")
    if len(fields) != len(COLUMNS):
        return f"{len(fields)} columns, expected {len(COLUMNS)} tab-separated"
    for number, (name, field, pattern, meaning) in enumerate(zip(COLUMNS, fields, rows_format.fields, rows_format.meanings), 1):
        if pattern.fullmatch(field) is None:
            shown = field[:40].decode("utf-8", "replace") + ("…" if len(field) > 40 else "")
            return f"column {number} ({name}) is {shown!r}, expected {meaning}"
    return "not a junction line"
