"""Refusing a file that gives one snaptron_id to two lines, wherever the two go.

snaptron_ids are unique within a compilation, but each shard's primary key
sees only its own rows: a file repeating an id on two shards loaded silently,
and one repeating it on one shard failed only after the whole COPY, without
saying which lines. The loader therefore remembers every id it routes: one
bit per id below BITMAP_IDS (numpy's zeros are mapped on first touch, so only
the pages that ids reach take memory: ~29 MB for srav3h's 228 M dense ids,
~4 MB for GTEx's 30 M), and a set for the rare ids above. Each block's ids are
checked and recorded in a few vectorised numpy steps.

When an id repeats, the error names both lines and their shards: the second
is in hand; the first is found by reading the file again up to it (an error
path only; stdin cannot be read again, so then only the second is named).
"""

from __future__ import annotations

import numpy

from loaders.source import Source, line_blocks
from snapthunder.junctions import CheckedBlock, check_block
from snapthunder.plan import ShardPlan

BITMAP_IDS = 1 << 31
UNIQUE_HINT = "snaptron_id must be unique within a compilation; remove or renumber one of them and load again"


class DuplicateIdError(ValueError):
    """Two lines of the file have the same snaptron_id; the message names both (or the second) and their shards."""


class SeenIds:
    """Every snaptron_id routed so far in this load."""

    def __init__(self) -> None:
        self._bits = numpy.zeros(BITMAP_IDS >> 3, numpy.uint8)
        self._large: set[int] = set()

    def first_repeat(self, ids: numpy.ndarray) -> tuple[int, int | None] | None:
        """The first of `ids` seen before: (its index, the index of its earlier copy in `ids`, or None
        when that is in an earlier block). None, with every id recorded, when none repeats."""
        order = numpy.argsort(ids, kind="stable")
        ordered = ids[order]
        small = ids < BITMAP_IDS
        bit = (1 << (ids & 7)).astype(numpy.uint8)
        seen_small = small & (self._bits[numpy.where(small, ids, 0) >> 3] & bit != 0)
        seen_large = [index for index in numpy.flatnonzero(~small).tolist() if int(ids[index]) in self._large]
        later_copies = order[1:][ordered[1:] == ordered[:-1]]   # of ids repeated within this block
        candidates = [int(later_copies.min())] if later_copies.size else []
        candidates += numpy.flatnonzero(seen_small).tolist()[:1] + seen_large[:1]
        if candidates:
            index = min(candidates)
            earlier = numpy.flatnonzero(ids[:index] == ids[index])
            return index, int(earlier[0]) if earlier.size else None
        small_ordered = ordered[ordered < BITMAP_IDS]
        if small_ordered.size:
            byte = small_ordered >> 3
            starts = numpy.flatnonzero(numpy.r_[True, byte[1:] != byte[:-1]])
            bits = (1 << (small_ordered & 7)).astype(numpy.uint8)
            self._bits[byte[starts]] |= numpy.bitwise_or.reduceat(bits, starts)
        self._large.update(ordered[ordered >= BITMAP_IDS].tolist())
        return None


def refuse_repeat(source_name: str, plan: ShardPlan, block: bytes, first_line: int, checked: CheckedBlock,
                  repeat: tuple[int, int | None], row_format: str) -> DuplicateIdError:
    """The error for a repeat that SeenIds.first_repeat found in this block, naming both lines."""
    index, earlier = repeat
    snaptron_id = checked.ids[index]
    second = _good_line(block, first_line, checked, index)
    first = _good_line(block, first_line, checked, earlier) if earlier is not None else None
    if first is None and source_name != "-":
        first = _first_line_with(source_name, snaptron_id, row_format)
    (second_line, second_chromosome) = second
    second_place = f"{second_chromosome} on {plan.shard_for(second_chromosome)}"
    if first is None:
        return DuplicateIdError(f"{source_name}: line {second_line:,} ({second_place}) repeats snaptron_id "
                                f"{snaptron_id} of an earlier line (stdin cannot be read again to say which): "
                                f"{UNIQUE_HINT}")
    first_line_number, first_chromosome = first
    first_place = f"{first_chromosome} on {plan.shard_for(first_chromosome)}"
    where = f"both {first_place}" if first_place == second_place else f"{first_place}, {second_place}"
    return DuplicateIdError(f"{source_name}: lines {first_line_number:,} and {second_line:,} both have snaptron_id "
                            f"{snaptron_id} ({where}): {UNIQUE_HINT}")


def _good_line(block: bytes, first_line: int, checked: CheckedBlock, index: int) -> tuple[int, str]:
    """(line number, chromosome) of the `index`-th good line of a checked block."""
    for chromosome, start, _, count in checked.runs:
        if index < count:
            offset = start
            for _ in range(index):
                offset = block.index(b"\n", offset) + 1
            return first_line + block.count(b"\n", 0, offset), chromosome.decode()
        index -= count
    raise IndexError(f"block has no good line {index}")


def _first_line_with(source_name: str, snaptron_id: int, row_format: str) -> tuple[int, str] | None:
    """The first good line of the file with `snaptron_id`: read again, only to name it in the error."""
    with Source(source_name) as source:
        for block, first_line in line_blocks(source):
            checked = check_block(block, first_line, row_format)
            found = numpy.flatnonzero(numpy.frombuffer(checked.ids, numpy.int64) == snaptron_id)
            if found.size:
                return _good_line(block, first_line, checked, int(found[0]))
    return None
