"""Opening what the loader reads: a path (`.bgz`, `.gz` or plain TSV), `-` or an http(s) URL.

Compression is recognised by its magic bytes, not the name, so `-` and URLs
work either way; bgzip's many gzip members are read as one stream. Bytes are
counted as they are read from the source (compressed, if it is), which is what
the progress bar measures against the file's size.

An input must end properly, or the load fails (SourceError, naming the byte
where it ended) before anything is committed: a cut file or download would
otherwise replace a chromosome by a fragment. gzip itself notices a member
cut in the middle, but not a bgzip file cut at a block boundary (every block
is a whole gzip member): bgzip ends every file with an empty block, its
end-of-file marker, which must be the last bytes. A download must bring the
bytes its Content-Length announced (http.client reports fewer as a clean end
of file) and, when chunked, end with the last chunk.
"""

from __future__ import annotations

import gzip
import http.client
import io
import sys
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import BinaryIO, Iterator

GZIP_MAGIC = b"\x1f\x8b"
READ_BUFFER = 1 << 20
BLOCK_BYTES = 1 << 20
# bgzip's end-of-file marker: an empty gzip member with the BC extra subfield (SAM/BAM spec, 4.1.2).
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
# What identifies BGZF: a gzip header with FEXTRA, whose first extra subfield is BC.
BGZF_HEADER_BYTES = 14
TRUNCATED_FILE = "the file is truncated (re-download it)"
TRUNCATED_DOWNLOAD = "the download was cut short (try again)"


class SourceError(OSError):
    """The input cannot be opened or read, or does not end properly; the message names it."""


class CountingReader(io.RawIOBase):
    """A raw stream that counts the bytes taken from the one it wraps and checks how it ends.

    It sees the source's first and last bytes, so it can tell BGZF from plain
    gzip and whether bgzip's end-of-file marker closes it.
    """

    def __init__(self, name: str, stream: BinaryIO, announced: int | None) -> None:
        self.name = name
        self.stream = stream
        self.announced = announced
        self.bytes_read = 0
        self.head = b""
        self.tail = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        # read1: whatever is available now (at most one read below), as a raw stream
        # must; read() would wait for the whole buffer and stall a pipe that has less.
        try:
            data = self.stream.read1(len(buffer))
        except http.client.IncompleteRead:
            raise self.ended(f"inside a chunk of its chunked transfer: {TRUNCATED_DOWNLOAD}") from None
        except (OSError, http.client.HTTPException) as error:
            raise SourceError(f"{self.name}: unreadable at byte {self.bytes_read:,}: {error}") from None
        if not data:
            self._check_end()
            return 0
        buffer[: len(data)] = data
        self.bytes_read += len(data)
        if len(self.head) < BGZF_HEADER_BYTES:
            self.head += data[: BGZF_HEADER_BYTES - len(self.head)]
        self.tail = data[-len(BGZF_EOF):] if len(data) >= len(BGZF_EOF) else (self.tail + data)[-len(BGZF_EOF):]
        return len(data)

    def ended(self, how: str) -> SourceError:
        return SourceError(f"{self.name}: ends at byte {self.bytes_read:,} {how}")

    def _check_end(self) -> None:
        if self.announced is not None and self.bytes_read < self.announced:
            raise self.ended(f"of the {self.announced:,} its Content-Length announced: {TRUNCATED_DOWNLOAD}")
        is_bgzf = self.head[:4] == b"\x1f\x8b\x08\x04" and self.head[12:14] == b"BC"
        if is_bgzf and self.tail != BGZF_EOF:
            raise self.ended(f"without bgzip's end-of-file marker: {TRUNCATED_FILE}")


class _Decompressed(io.RawIOBase):
    """gzip's output as a raw stream whose read errors name the source and the byte they came at."""

    def __init__(self, compressed: gzip.GzipFile, counter: CountingReader) -> None:
        self.compressed = compressed
        self.counter = counter

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            return self.compressed.readinto(buffer)
        except EOFError:
            raise self.counter.ended(f"inside a gzip member: {TRUNCATED_FILE}") from None
        except SourceError:
            raise
        except (OSError, zlib.error) as error:
            raise SourceError(f"{self.counter.name}: not readable as gzip at byte {self.counter.bytes_read:,}: "
                              f"{error}") from None


class Source:
    """An opened input: `lines` yields raw lines (bytes, with their newline); reading past its end checks it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.size: int | None = None
        raw, announced = self._open_raw(name)
        self.counter = CountingReader(name, raw, announced)
        buffered = io.BufferedReader(self.counter, READ_BUFFER)
        self._closables = [raw, buffered]
        if buffered.peek(2)[:2] == GZIP_MAGIC:
            compressed = gzip.GzipFile(fileobj=buffered, mode="rb")
            self.lines: BinaryIO = io.BufferedReader(_Decompressed(compressed, self.counter), READ_BUFFER)
            self._closables[:0] = [self.lines, compressed]
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

    def _open_raw(self, name: str) -> tuple[BinaryIO, int | None]:
        """The stream and, for a download, the byte count its Content-Length announces."""
        if name == "-":
            return sys.stdin.buffer, None
        if name.startswith(("http://", "https://")):
            try:
                response = urllib.request.urlopen(name, timeout=60)
            except (urllib.error.URLError, OSError) as error:
                raise SourceError(f"{name}: cannot download: {getattr(error, 'reason', error)}") from None
            length = response.headers.get("Content-Length")
            self.size = int(length) if length and length.isdigit() else None
            return response, self.size
        try:
            handle = open(name, "rb")
        except OSError as error:
            raise SourceError(f"{name}: cannot open: {error.strerror}") from None
        self.size = Path(name).stat().st_size
        return handle, None


def line_blocks(source: Source) -> Iterator[tuple[bytes, int]]:
    """(block of ~BLOCK_BYTES of whole lines, each ending in a newline, number of its first line); CRLF becomes LF.

    Read errors, and an input that does not end properly, raise SourceError.
    """
    line_number = 1
    while True:
        block = source.lines.read(BLOCK_BYTES)
        if not block:
            return
        block += source.lines.readline()
        if not block.endswith(b"\n"):
            block += b"\n"
        if b"\r" in block:
            block = block.replace(b"\r\n", b"\n")
        yield block, line_number
        line_number += block.count(b"\n")
