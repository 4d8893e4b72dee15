"""The lines of GFF3 and GTF files (GENCODE's genes, Snaptron's all_transcripts.gtf.bgz), checked and spooled.

Both annotation files of a compilation are nine TAB-separated columns —
sequence, source, feature, start, end, score, strand, frame, attributes —
with 1-based inclusive coordinates, and `#` lines for comments and
directives. They are read once, as a stream, before the load touches any
shard: every line is checked, and the first bad one stops the load with its
file, line number and reason (FeatureFileError), so a load never keeps half
an annotation. The rows each shard will get are spooled to a temporary file
on the way (memory stays flat whatever the file's size) and copied from it
in that shard's load transaction (two_phase.py).
"""

from __future__ import annotations

import re
import tempfile
from typing import BinaryIO, Iterator, NamedTuple

import psycopg2
from psycopg2 import sql

from loaders.shard_writer import ShardLoadError, describe_error
from loaders.source import Source
from loaders.two_phase import Participant
from snapthunder.query import MAX_COORDINATE

COLUMNS = 9
_COORDINATE = re.compile(rb"[1-9]\d{0,9}")
SPOOL_BYTES = 8 << 20        # spooled rows stay in memory up to this, then go to a temporary file


class FeatureFileError(ValueError):
    """A line of an annotation file that is not a feature; the message names the file, the line and the fix."""


class FeatureLine(NamedTuple):
    number: int                 # the file's line number, 1-based
    cells: list[bytes]          # the nine columns, as written
    start: int
    end: int


def features(path: str, what: str) -> Iterator[FeatureLine]:
    """The checked features of `path` in file order (`what` names the file's role in errors)."""
    with Source(path) as source:
        for number, raw in enumerate(source.lines, 1):
            line = raw.rstrip(b"\r\n")
            if not line or line.startswith(b"#"):
                continue
            cells = line.split(b"\t")
            reason = _problem(cells)
            if reason is not None:
                raise bad_line(path, number, what, reason)
            yield FeatureLine(number, cells, int(cells[3]), int(cells[4]))


def bad_line(path: str, number: int, what: str, reason: str) -> FeatureFileError:
    return FeatureFileError(f"{path}: line {number:,}: {reason}; {what} was not loaded and nothing changed "
                            "(fix or remove the line and load again)")


def shown(cell: bytes, most: int = 40) -> str:
    return repr(cell[:most].decode("utf-8", "replace"))


def copy_text(cell: bytes) -> bytes:
    """A cell as COPY's text format reads it back unchanged (backslashes doubled; the line holds no TAB)."""
    return cell.replace(b"\\", b"\\\\")


class SpooledTable:
    """COPY rows for one table, spooled per shard while the file is read, then written shard by shard.

    `write(participant)` replaces the table's rows on that shard, inside its
    load transaction, with the rows spooled for it (none: the table is
    emptied), so loading the same file twice leaves the same rows. Rows
    added for shard None go to every shard.
    """

    def __init__(self, path: str, table: str, columns: tuple[str, ...]) -> None:
        self.path = path
        self.table = table
        self.columns = columns
        self.spools: dict[str | None, BinaryIO] = {}
        self.rows: dict[str | None, int] = {}

    def add(self, shard: str | None, row: bytes) -> None:
        if shard not in self.spools:
            self.spools[shard] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
            self.rows[shard] = 0
        self.spools[shard].write(row)
        self.rows[shard] += 1

    def write(self, participant: Participant) -> None:
        spooled = self.spools.get(participant.shard.name, self.spools.get(None))
        table = sql.Identifier(self.table)
        try:
            with participant.connection.cursor() as cursor:
                cursor.execute(sql.SQL("TRUNCATE {}").format(table))
                if spooled is not None:
                    spooled.seek(0)
                    copy = sql.SQL("COPY {} ({}) FROM STDIN").format(
                        table, sql.SQL(", ").join(map(sql.Identifier, self.columns)))
                    cursor.copy_expert(copy.as_string(cursor), spooled)
                cursor.execute(sql.SQL("ANALYZE {}").format(table))
        except psycopg2.Error as error:
            raise ShardLoadError(f"{participant.shard.describe()}: loading {self.path}: {describe_error(error)}; "
                                 "nothing changed") from None

    def summary(self) -> str:
        """What the load took from the file, for the loader's summary."""
        raise NotImplementedError

    def close(self) -> None:
        for spooled in self.spools.values():
            spooled.close()


def _problem(cells: list[bytes]) -> str | None:
    if len(cells) != COLUMNS:
        return (f"{len(cells)} TAB-separated columns; a GFF3/GTF feature has {COLUMNS} (sequence, source, feature, "
                "start, end, score, strand, frame, attributes)")
    if not cells[0] or b" " in cells[0]:
        return f"column 1 (sequence) is {shown(cells[0])}, expected a chromosome name"
    for column in (4, 5):
        cell = cells[column - 1]
        if not _COORDINATE.fullmatch(cell) or int(cell) > MAX_COORDINATE:
            return f"column {column} is {shown(cell, 20)}, expected a 1-based coordinate up to {MAX_COORDINATE:,}"
    if int(cells[3]) > int(cells[4]):
        return f"start {int(cells[3]):,} is after end {int(cells[4]):,}"
    if cells[6] not in (b"+", b"-", b".", b"?"):
        return f"column 7 (strand) is {shown(cells[6], 10)}, expected + - . or ?"
    return None
