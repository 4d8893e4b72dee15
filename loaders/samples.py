"""Loading a compilation's `samples.tsv` into every shard's `sample` table.

The file is small (one row per sample, ~10 K–300 K rows) and every shard gets
a full copy, so the API can answer `/samples` and the registry from any shard
that is up. Each shard is replaced in one transaction: the old samples stay
until the new ones are all in. With the lines go the header
(shard_metadata `samples_header`), each column's type (`sample_field`, what
the registry lists: sample_fields.py), the load's time as the Python 2 float
text that `/samples?check_for_update=1` prints (`samples_loaded_at`) and the
compilation's name.
"""

from __future__ import annotations

import re
import time
from typing import Iterator

import psycopg2

from loaders.pipeline import RejectsFile
from loaders.sample_fields import FieldTypes, SampleFieldsError, shipped_types
from loaders.shard_writer import ShardLoadError, describe_error
from loaders.source import Source
from snapthunder import wire
from snapthunder.endpoints import Endpoints

_RAIL_ID = re.compile(rb"\d{1,9}")
SET_METADATA = ("INSERT INTO shard_metadata (key, value) VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value")


def load_samples(path: str, endpoints: Endpoints, rejects: RejectsFile) -> int:
    """Replace every shard's samples with `path`'s; bad lines go to `rejects`. Returns rows loaded."""
    with Source(path) as source:
        header = source.lines.readline().rstrip(b"\r\n")
    if not header.startswith(b"rail_id\t"):
        raise ShardLoadError(f"{path}: line 1 must be the header, starting with rail_id<TAB>; "
                             f"got {header[:40].decode('utf-8', 'replace')!r}")
    try:
        shipped = shipped_types(path)
    except SampleFieldsError as error:
        raise ShardLoadError(str(error)) from None
    fields = FieldTypes(header.decode().split("\t"))
    loaded_at = wire.python_float_text(time.time())
    loaded = 0
    for shard in endpoints.shards.values():
        connection = psycopg2.connect(**shard.connect_arguments())
        try:
            with connection, connection.cursor() as cursor:
                cursor.execute("DELETE FROM sample")
                first = loaded == 0
                stream = _CopyStream(_sample_rows(path, len(fields.names), rejects if first else None,
                                                  fields if first else None))
                cursor.copy_expert("COPY sample (rail_id, line) FROM STDIN", stream)
                cursor.execute("DELETE FROM sample_field")
                cursor.executemany("INSERT INTO sample_field (position, name, type) VALUES (%s, %s, %s)",
                                   [(position, name, kind) for position, (name, kind)
                                    in enumerate(fields.types(shipped))])
                for key, value in (("samples_header", header.decode()), ("samples_loaded_at", loaded_at),
                                   ("compilation", endpoints.compilation)):
                    cursor.execute(SET_METADATA, (key, value))
                loaded = stream.rows
        except psycopg2.Error as error:
            raise ShardLoadError(f"{shard.describe()}: loading {path}: {describe_error(error)}") from None
        finally:
            connection.close()
    return loaded


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
            if reason:
                if rejects is not None:
                    rejects.add(number, f"samples: {reason}", raw)
                continue
            if fields is not None:
                fields.add(cells)
            yield cells[0] + b"\t" + line.replace(b"\\", b"\\\\").replace(b"\t", b"\\t") + b"\n"


class _CopyStream:
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
