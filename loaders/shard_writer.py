"""One shard's side of a load: a thread that COPYs batches into a new table.

Everything a writer does runs in one transaction (see the shard SQL's
03-load.sql): begin_intron_load() makes an empty staging table, COPY FREEZE
fills it, finish_intron_load() keeps the chromosomes this load does not carry,
builds the indexes and swaps the tables. The transaction is committed only
when the loader says so, after every shard has finished; a writer that fails,
or a loader that dies, leaves its shard exactly as it was.
"""

from __future__ import annotations

import queue
import threading
import psycopg2

from snapthunder.endpoints import Shard

BATCH_BYTES = 1 << 18
QUEUE_BATCHES = 16
COPY_BUFFER = 1 << 18


class ShardLoadError(RuntimeError):
    """A shard refused or lost the load; the message names the shard."""


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
    """Feeds one shard; `send` batches, then `finish`, then `commit` or `rollback`."""

    def __init__(self, shard: Shard, source: str, compilation: str) -> None:
        self.shard = shard
        self.source = source
        self.compilation = compilation
        self.rows = 0
        self.chromosomes: list[str] = []
        self.error: BaseException | None = None
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._batches: "queue.Queue[bytes | None]" = queue.Queue(maxsize=QUEUE_BATCHES)
        self._decision: "queue.Queue[bool]" = queue.Queue(maxsize=1)
        self._finished = threading.Event()
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
        """Block until the shard is ready to commit; raise ShardLoadError if it failed."""
        while not self._finished.wait(0.2):
            if not self._thread.is_alive():
                break
        self._raise_if_failed()

    def commit(self) -> None:
        """Commit the finished load (call after `wait`), then VACUUM.

        COPY FREEZE already marked the new rows all-visible; VACUUM does the same
        for rows kept from the previous table, so counts stay index-only scans.
        Statistics were gathered before the swap (finish_intron_load's ANALYZE).
        """
        self._decision.put(True)
        self._thread.join()
        self._raise_if_failed()

    def rollback(self) -> None:
        """Abandon the load wherever the writer is: in COPY, in the index build or waiting."""
        if not self._thread.is_alive():
            return
        self._decision.put(False)
        while self._thread.is_alive():
            try:
                self._batches.put_nowait(_ABORT)
            except queue.Full:
                pass
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
        connection = None
        try:
            connection = psycopg2.connect(**self.shard.connect_arguments())
            with connection.cursor() as cursor:
                cursor.execute("SELECT begin_intron_load()")
                cursor.copy_expert("COPY intron_staging FROM STDIN (FREEZE)", _BatchStream(self._batches), COPY_BUFFER)
                cursor.execute("SELECT finish_intron_load(%s, %s, %s)", (self.chromosomes, self.source, self.compilation))
            self._finished.set()
            if self._decision.get():
                connection.commit()
                connection.autocommit = True
                with connection.cursor() as cursor:
                    cursor.execute("VACUUM intron")
            else:
                connection.rollback()
        except BaseException as error:  # reported to the loader's thread by _raise_if_failed
            self.error = error
            self._finished.set()
        finally:
            if connection is not None:
                connection.close()


def describe_error(error: BaseException) -> str:
    if isinstance(error, psycopg2.Error) and error.diag.message_primary:
        detail = error.diag.message_detail
        hint = error.diag.message_hint
        return " ".join(part for part in (error.diag.message_primary, detail, hint and f"({hint})") if part)
    return str(error).strip() or type(error).__name__

