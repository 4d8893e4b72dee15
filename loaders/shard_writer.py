"""One shard's side of a load of one file: a thread that COPYs batches into a new table.

The writer works inside its shard's load transaction (two_phase.py opens it,
and prepares and commits it once every shard is ready): begin_table_load()
makes an empty staging table (of the junction, gene or exon table: the
file's Feature), COPY FREEZE fills it, finish_table_load()
keeps the chromosomes this load does not replace, builds the indexes and
swaps the tables (see the shard SQL's 03-load.sql). A writer that fails, or
a loader that dies, before the commit leaves its shard exactly as it was.
"""

from __future__ import annotations

import queue
import threading

import psycopg2

from psycopg2 import sql

from snapthunder.endpoints import Shard
from snapthunder.features import JUNCTIONS, Feature

BATCH_BYTES = 1 << 18
QUEUE_BATCHES = 16
COPY_BUFFER = 1 << 18
SET_METADATA = ("INSERT INTO shard_metadata (key, value) VALUES (%s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value")


class ShardLoadError(RuntimeError):
    """A shard refused or lost the load; the message names the shard and what state the shards are in."""


class LoadAborted(Exception):
    """Raised inside COPY to abandon it when the loader gives up on the load."""


_END = None
_ABORT = b"abort"  # compared by identity: a batch is never this very object


class _BatchStream:
    """The file-like object COPY reads: batches from the queue until the end marker."""

    def __init__(self, batches: "queue.Queue[bytes | None]") -> None:
        self.batches = batches
        self.finished = False

    def read(self, size: int = -1) -> bytes:
        if self.finished:
            return b""
        batch = self.batches.get()
        if batch is _ABORT:
            raise LoadAborted("the loader abandoned this load")
        if batch is _END:
            self.finished = True
            return b""
        return batch


class ShardWriter:
    """Feeds one shard on its load transaction's connection; `add` rows, then `finish` and `wait`, or `abort`.

    `removed` are chromosomes the shard holds that the plan places elsewhere:
    the load replaces them with nothing, so no copy outlives a re-shard.
    """

    def __init__(self, shard: Shard, connection, source: str, compilation: str,
                 removed: tuple[str, ...] = (), feature: Feature = JUNCTIONS) -> None:
        self.feature = feature
        self.shard = shard
        self.connection = connection
        self.source = source
        self.compilation = compilation
        self.removed = removed
        self.rows = 0
        self.chromosomes: list[str] = []
        self.error: BaseException | None = None
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._batches: "queue.Queue[bytes | None]" = queue.Queue(maxsize=QUEUE_BATCHES)
        self._thread = threading.Thread(target=self._run, name=f"load-{shard.name}", daemon=True)
        self._thread.start()

    def add(self, rows: bytes | memoryview, count: int) -> None:
        """Queue checked lines (newlines included); sent to the server in batches of ~256 KB."""
        self._pending.append(rows)
        self._pending_bytes += len(rows)
        self.rows += count
        if self._pending_bytes >= BATCH_BYTES:
            self._send(b"".join(self._pending))
            self._pending = []
            self._pending_bytes = 0

    def finish(self) -> None:
        """End of input: flush, let the shard build indexes and swap tables (uncommitted)."""
        if self._pending:
            self._send(b"".join(self._pending))
            self._pending = []
        self._send(_END)

    def wait(self) -> None:
        """Block until the shard's part of the load is done; raise ShardLoadError if it failed."""
        while self._thread.is_alive():
            self._thread.join(0.2)
        self._raise_if_failed()

    def abort(self) -> None:
        """Abandon the load wherever the writer is: in COPY or in the index build (the statement is cancelled)."""
        while self._thread.is_alive():
            try:
                self._batches.put_nowait(_ABORT)
            except queue.Full:
                pass
            self.connection.cancel()
            self._thread.join(0.1)

    def _send(self, batch: bytes | None) -> None:
        while True:
            self._raise_if_failed()
            try:
                self._batches.put(batch, timeout=0.2)
                return
            except queue.Full:
                continue

    def _raise_if_failed(self) -> None:
        if self.error is not None:
            raise ShardLoadError(f"{self.shard.describe()}: {describe_error(self.error)}") from self.error

    def _run(self) -> None:
        try:
            with self.connection.cursor() as cursor:
                cursor.execute("SELECT begin_table_load(%s)", (self.feature.table,))
                copy = sql.SQL("COPY {} FROM STDIN (FREEZE)").format(sql.Identifier(self.feature.table + "_staging"))
                cursor.copy_expert(copy.as_string(cursor), _BatchStream(self._batches), COPY_BUFFER)
                cursor.execute("SELECT finish_table_load(%s, %s, %s, %s, %s)",
                               (self.feature.table, self.feature.stats_table, self.chromosomes + list(self.removed),
                                self.source, self.compilation))
        except BaseException as error:  # reported to the loader's thread by _raise_if_failed
            self.error = error


def describe_error(error: BaseException) -> str:
    if isinstance(error, psycopg2.Error) and error.diag.message_primary:
        detail = error.diag.message_detail
        hint = error.diag.message_hint
        return " ".join(part for part in (error.diag.message_primary, detail, hint and f"({hint})") if part)
    return str(error).strip() or type(error).__name__
