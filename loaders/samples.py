"""Loading a compilation's `samples.tsv` into every shard's `sample` table.

The file is small (one row per sample, ~10 K–300 K rows) and every shard gets
a full copy, so the API can answer `/samples` and the registry from any shard
that is up. The samples are written in each shard's load transaction, with the
junctions, so they are committed on every shard or on none (two_phase.py);
TRUNCATE makes readers of the old samples wait for that commit rather than
see old samples on one shard and new ones on another. With the lines go the
header (shard_metadata `samples_header`), each column's type (`sample_field`,
what the registry lists: sample_fields.py) with a btree for each numeric one (sfilter's `smrin>:8`), the load's time as the Python 2
float text that `/samples?check_for_update=1` prints (`samples_loaded_at`)
and the compilation's name; and the sample groups of samples.groups.tsv
beside it, if there is one (sample_groups.py). A line that holds byte 0x1F,
0x1E or a carriage return is rejected, and a header that does fails the
load: the API sends the lines unescaped, as CSV between the first two
(statements.copy_lines_statement).
"""

from __future__ import annotations

import re
import time
from typing import Iterator

import psycopg2

from loaders.rejects import RejectsFile
from loaders.sample_groups import GroupsError, GroupsFile, beside
from loaders.sample_fields import FieldTypes, SampleFieldsError, shipped_types
from loaders.shard_writer import SET_METADATA, ShardLoadError, describe_error
from loaders.source import Source
from loaders.two_phase import Participant
from snapthunder import wire
from snapthunder.sample_search import NUMERIC_TYPES
from snapthunder.statements import UNSENDABLE_BYTES

# Numeric columns given a btree each (02-schema.sql, index_sample_numbers), in header order: about 22 bytes
# per sample each (7 MB at 316,000 samples); clauses on columns past these scan every sample's numbers.
MAX_INDEXED_NUMBERS = 64
_RAIL_ID = re.compile(rb"\d{1,9}")
# The COPY leaves the rows it added to the sample table's GIN indexes (`words`, the cells' words) in
# each index's pending list, which every search then reads through, until a vacuum merges it in the
# background; merged in the load instead, 0.2 s at 316,000 samples (README: keeping the indexes
# without a pending list, fastupdate off, made the COPY itself much slower). Whatever GIN indexes
# the compilation's schema has.
MERGE_GIN_PENDING = ("SELECT gin_clean_pending_list(class.oid::regclass) FROM pg_index AS sample_index "
                     "JOIN pg_class AS class ON class.oid = sample_index.indexrelid "
                     "JOIN pg_am AS method ON method.oid = class.relam "
                     "WHERE sample_index.indrelid = 'sample'::regclass AND method.amname = 'gin'")
# The API sends sample lines unescaped, as CSV between two control characters (statements.copy_lines_statement).
SEPARATOR_REFUSAL = ("the line holds a byte the API cannot send unescaped ("
                     + ", ".join(f"0x{byte[0]:02X}" for byte in UNSENDABLE_BYTES) + ")")


class SamplesFile:
    """A samples.tsv, its header and shipped types checked when opened, written into one shard at a time.

    The first shard's COPY notes the rejects and infers the column types;
    the others get the same rows and types.
    """

    def __init__(self, path: str, compilation: str, rejects: RejectsFile) -> None:
        self.path = path
        self.compilation = compilation
        self.rejects = rejects
        self.rows: int | None = None
        with Source(path) as source:
            self.header = source.lines.readline().rstrip(b"\r\n")
        if any(byte in self.header for byte in UNSENDABLE_BYTES):
            raise ShardLoadError(f"{path}: line 1 (the header): {SEPARATOR_REFUSAL}")
        if not self.header.startswith(b"rail_id\t"):
            raise ShardLoadError(f"{path}: line 1 must be the header, starting with rail_id<TAB>; "
                                 f"got {self.header[:40].decode('utf-8', 'replace')!r}")
        try:
            self.shipped = shipped_types(path)
        except SampleFieldsError as error:
            raise ShardLoadError(str(error)) from None
        self.fields = FieldTypes(self.header.decode().split("\t"))
        self.loaded_at = wire.python_float_text(time.time())
        groups_path = beside(path)
        try:
            self.groups = GroupsFile(groups_path) if groups_path is not None else None
        except GroupsError as error:
            raise ShardLoadError(str(error)) from None

    def write(self, participant: Participant) -> None:
        """Replace the shard's samples inside its load transaction; sets `rows`."""
        first = self.rows is None
        try:
            with participant.connection.cursor() as cursor:
                cursor.execute("TRUNCATE sample, sample_field, sample_group")
                stream = CopyStream(_sample_rows(self.path, len(self.fields.names), self.rejects if first else None,
                                                  self.fields if first else None))
                # FREEZE (the table was emptied in this transaction): the rows are all-visible from the
                # commit, so no search sets their hint bits and no vacuum rewrites them under the first queries.
                cursor.copy_expert("COPY sample (rail_id, line) FROM STDIN (FREEZE)", stream)
                cursor.execute(MERGE_GIN_PENDING)
                if self.groups is not None:
                    cursor.copy_expert("COPY sample_group (name, long_name, rail_ids) FROM STDIN",
                                       CopyStream(self.groups.copy_rows()))
                types = self.fields.types(self.shipped)
                cursor.executemany("INSERT INTO sample_field (position, name, type) VALUES (%s, %s, %s)",
                                   [(position, name, kind) for position, (name, kind) in enumerate(types)])
                numeric = [position + 1 for position, (_, kind) in enumerate(types) if kind in NUMERIC_TYPES]
                cursor.execute("SELECT index_sample_numbers(%s::integer[])", (numeric[:MAX_INDEXED_NUMBERS],))
                for key, value in (("samples_header", self.header.decode()), ("samples_loaded_at", self.loaded_at),
                                   ("compilation", self.compilation)):
                    cursor.execute(SET_METADATA, (key, value))
        except psycopg2.Error as error:
            raise ShardLoadError(f"{participant.shard.describe()}: loading {self.path}: {describe_error(error)}; "
                                 "nothing changed") from None
        self.rows = stream.rows

    def close(self) -> None:
        """Finish the groups' rejects file (the samples' own is the caller's)."""
        if self.groups is not None:
            self.groups.close()


def _sample_rows(path: str, columns: int, rejects: RejectsFile | None,
                 fields: FieldTypes | None) -> Iterator[bytes]:
    """COPY text rows `rail_id<TAB>escaped line` for the good lines of `path` (rejects and types noted once)."""
    with Source(path) as source:
        source.lines.readline()
        for number, raw in enumerate(source.lines, 2):
            line = raw.rstrip(b"\r\n")
            cells = line.split(b"\t")
            reason = None
            if not _RAIL_ID.fullmatch(cells[0]):
                reason = f"column 1 (rail_id) is {cells[0][:20].decode('utf-8', 'replace')!r}, expected an integer"
            elif len(cells) != columns:
                reason = f"{len(cells)} columns, the header has {columns}"
            elif any(byte in line for byte in UNSENDABLE_BYTES):
                reason = SEPARATOR_REFUSAL
            if reason:
                if rejects is not None:
                    rejects.add(number, f"samples: {reason}", raw)
                continue
            if fields is not None:
                fields.add(cells)
            yield cells[0] + b"\t" + line.replace(b"\\", b"\\\\").replace(b"\t", b"\\t") + b"\n"


class CopyStream:
    """A file-like object over an iterator of COPY rows, counting them."""

    def __init__(self, rows: Iterator[bytes]) -> None:
        self.rows_iterator = rows
        self.rows = 0

    def read(self, size: int = -1) -> bytes:
        chunk = []
        total = 0
        for row in self.rows_iterator:
            chunk.append(row)
            self.rows += 1
            total += len(row)
            if total >= 1 << 16:
                break
        return b"".join(chunk)
