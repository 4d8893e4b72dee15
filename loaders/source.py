"""Opening what the loader reads: a path (`.bgz`, `.gz` or plain TSV), `-` or an http(s) URL.

Compression is recognised by its magic bytes, not the name, so `-` and URLs
work either way; bgzip's many gzip members are read as one stream. Bytes are
counted as they are read from the source (compressed, if it is), which is what
the progress bar measures against the file's size.
"""

from __future__ import annotations

import gzip
import io
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO

GZIP_MAGIC = b"\x1f\x8b"
READ_BUFFER = 1 << 20


class SourceError(OSError):
    """The input cannot be opened or read; the message names it."""


class CountingReader(io.RawIOBase):
    """A raw stream that counts the bytes taken from the one it wraps."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        # read1: whatever is available now (at most one read below), as a raw stream
        # must; read() would wait for the whole buffer and stall a pipe that has less.
        data = self.stream.read1(len(buffer))
        buffer[: len(data)] = data
        self.bytes_read += len(data)
        return len(data)


class Source:
    """An opened input: `lines` yields raw lines (bytes, with their newline)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.size: int | None = None
        raw = self._open_raw(name)
        self.counter = CountingReader(raw)
        buffered = io.BufferedReader(self.counter, READ_BUFFER)
        self._closables = [raw, buffered]
        if buffered.peek(2)[:2] == GZIP_MAGIC:
            self.lines: BinaryIO = gzip.GzipFile(fileobj=buffered, mode="rb")
            self._closables.insert(0, self.lines)
        else:
            self.lines = buffered

    @property
    def bytes_read(self) -> int:
        return self.counter.bytes_read

    def close(self) -> None:
        for closable in self._closables:
            if closable is not sys.stdin.buffer:
                closable.close()

    def __enter__(self) -> "Source":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _open_raw(self, name: str) -> BinaryIO:
        if name == "-":
            return sys.stdin.buffer
        if name.startswith(("http://", "https://")):
            try:
                response = urllib.request.urlopen(name, timeout=60)
            except (urllib.error.URLError, OSError) as error:
                raise SourceError(f"{name}: cannot download: {getattr(error, 'reason', error)}") from None
            length = response.headers.get("Content-Length")
            self.size = int(length) if length and length.isdigit() else None
            return response
        try:
            handle = open(name, "rb")
        except OSError as error:
            raise SourceError(f"{name}: cannot open: {error.strerror}") from None
        self.size = Path(name).stat().st_size
        return handle
