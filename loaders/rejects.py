"""The rejects file: every bad line of an input, with its line number and the reason, never stopping the load."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO


class RejectsFile:
    """`line<TAB>reason<TAB>original line` per bad line; created on the first one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._handle: BinaryIO | None = None

    def add(self, line_number: int, reason: str, line: bytes) -> None:
        if self._handle is None:
            self._handle = open(self.path, "wb")
            self._handle.write(b"# line\treason\toriginal line\n")
        self._handle.write(f"{line_number}\t{reason}\t".encode() + line.rstrip(b"\r\n") + b"\n")
        self.count += 1

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


def default_rejects_path(source: str) -> Path:
    """`junctions.bgz` → `./junctions.bgz.rejects.tsv`; `-` → `./stdin.rejects.tsv`."""
    name = "stdin" if source == "-" else source.rstrip("/").rsplit("/", 1)[-1]
    return Path(f"{name}.rejects.tsv")
