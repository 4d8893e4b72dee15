"""Loading a compilation's `samples.tsv` into every shard's `sample` table.

The file is small (one row per sample, ~10 K–300 K rows) and every shard gets
a full copy, so the API can answer `/samples` from any shard that is up. Each
shard is replaced in one transaction: the old samples stay until the new ones
are all in. The header line is kept in shard_metadata as `samples_header`.
"""

from __future__ import annotations

import re
from typing import Iterator

import psycopg2

from loaders.pipeline import RejectsFile
from loaders.shard_writer import ShardLoadError, describe_error
from loaders.source import Source
from snapthunder.endpoints import Endpoints

_RAIL_ID = re.compile(rb"\d{1,9}")


def load_samples(path: str, endpoints: Endpoints, rejects: RejectsFile) -> int:
    """Replace every shard's samples with `path`'s; bad lines go to `rejects`. Returns rows loaded."""
    with Source(path) as source:
        header = source.lines.readline().rstrip(b"\r\n")
    if not header.startswith(b"rail_id\t"):
        raise ShardLoadError(f"{path}: line 1 must be the header, starting with rail_id<TAB>; "
                             f"got {header[:40].decode('utf-8', 'replace')!r}")
    loaded = 0
    for shard in endpoints.shards.values():
        connection = psycopg2.connect(**shard.connect_arguments())
        try:
            with connection, connection.cursor() as cursor:
                cursor.execute("DELETE FROM sample")
                stream = _CopyStream(_sample_rows(path, header.count(b"\t") + 1, rejects if loaded == 0 else None))
                cursor.copy_expert("COPY sample (rail_id, line) FROM STDIN", stream)
                cursor.execute(
                    "INSERT INTO shard_metadata (key, value) VALUES ('samples_header', %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (header.decode(),))
                loaded = stream.rows
        except psycopg2.Error as error:
            raise ShardLoadError(f"{shard.describe()}: loading {path}: {describe_error(error)}") from None
        finally:
            connection.close()
    return loaded


def _sample_rows(path: str, columns: int, rejects: RejectsFile | None) -> Iterator[bytes]:
    """COPY text rows `rail_id<TAB>escaped line` for the good lines of `path` (rejects noted once)."""
    with Source(path) as source:
        source.lines.readline()
        for number, raw in enumerate(source.lines, 2):
            line = raw.rstrip(b"\r\n")
            rail_id = line.split(b"\t", 1)[0]
            reason = None
            if not _RAIL_ID.fullmatch(rail_id):
                reason = f"column 1 (rail_id) is {rail_id[:20].decode('utf-8', 'replace')!r}, expected an integer"
            elif (found := line.count(b"\t") + 1) != columns:
                reason = f"{found} columns, the header has {columns}"
            if reason:
                if rejects is not None:
                    rejects.add(number, f"samples: {reason}", raw)
                continue
            yield rail_id + b"\t" + line.replace(b"\\", b"\\\\").replace(b"\t", b"\\t") + b"\n"


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
