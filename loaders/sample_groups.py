"""Loading a compilation's `samples.groups.tsv`, Snaptron's named sets of samples, into every shard.

Snaptron builds one per compilation (SRA by study, GTEx by tissue, TCGA by
`<code>_tumor|_normal`) and resolves `sids=Brain,Liver` through it. It is
picked up where Snaptron keeps it, beside samples.tsv, like the shipped
field types: the groups belong to the samples, so they are loaded with
them, in the same transaction on every shard (samples.py), replacing the
previous groups; a samples.tsv with no groups file beside it leaves none.

The file is streamed into COPY. A line that is not a group (four columns:
short name, long name, count, comma-separated rail_ids; a name that is not
a rail_id and holds no comma, since sids= splits on commas; a count that
matches the ids; a name given once) goes to its own rejects file, with its
line number and the reason, and does not stop the load.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from loaders.rejects import RejectsFile, default_rejects_path
from loaders.source import Source
from snapthunder.layout import GROUPS_FILE

HEADER = b"group_short_name\tgroup_long_name\trail_id_count\trail_ids"
_RAIL_IDS = re.compile(rb"\d{1,9}(?:,\d{1,9})*")
_COUNT = re.compile(rb"\d{1,9}")


class GroupsError(ValueError):
    """A groups file that cannot be loaded at all (its header); the message names the file and line."""


def beside(samples_path: str) -> Path | None:
    """The groups file beside `samples_path`, if the compilation has one (not for stdin or URLs)."""
    path = Path(samples_path).with_name(GROUPS_FILE)
    if samples_path == "-" or "://" in samples_path or not path.is_file():
        return None
    return path


class GroupsFile:
    """A samples.groups.tsv, its header checked when opened, copied into one shard at a time.

    The first copy notes the rejects in `rejects` (default
    ./samples.groups.tsv.rejects.tsv) and counts the groups; later shards get the same rows.
    """

    def __init__(self, path: Path, rejects: RejectsFile | None = None) -> None:
        self.path = path
        self.rejects = rejects or RejectsFile(default_rejects_path(str(path)))
        self.groups: int | None = None
        with Source(str(path)) as source:
            header = source.lines.readline().rstrip(b"\r\n")
        if header != HEADER:
            raise GroupsError(f"{path}:1: the header must be {HEADER.decode()!r} (Snaptron's), "
                              f"got {header[:80].decode('utf-8', 'replace')!r}")

    def copy_rows(self) -> Iterator[bytes]:
        """COPY text rows `name<TAB>long name<TAB>{ids}` for the good lines (rejects noted on the first pass)."""
        first = self.groups is None
        seen: set[bytes] = set()
        with Source(str(self.path)) as source:
            source.lines.readline()
            for number, raw in enumerate(source.lines, 2):
                cells = raw.rstrip(b"\r\n").split(b"\t")
                reason = _problem(cells, seen)
                if reason is not None:
                    if first:
                        self.rejects.add(number, f"sample groups: {reason}", raw)
                    continue
                seen.add(cells[0])
                name, long_name = (_copy_text(cell) for cell in cells[:2])
                yield name + b"\t" + long_name + b"\t{" + cells[3] + b"}\n"
        self.groups = len(seen)

    def close(self) -> None:
        self.rejects.close()


def _problem(cells: list[bytes], seen: set[bytes]) -> str | None:
    if len(cells) != 4:
        return f"{len(cells)} columns; a group line has 4 (short name, long name, count, rail_ids)"
    name, _, count, rail_ids = cells
    if not name or name.isdigit() or b"," in name:
        return (f"group name {name[:40].decode('utf-8', 'replace')!r}: a name is not empty, not all digits "
                "(those are rail_ids in sids=) and holds no comma")
    if name in seen:
        return f"group {name[:40].decode('utf-8', 'replace')!r} is given twice; the first is kept"
    if not _RAIL_IDS.fullmatch(rail_ids):
        return f"rail_ids {rail_ids[:40].decode('utf-8', 'replace')!r} are not comma-separated whole numbers"
    if not _COUNT.fullmatch(count) or int(count) != rail_ids.count(b",") + 1:
        return (f"rail_id_count {count[:20].decode('utf-8', 'replace')!r} does not match the "
                f"{rail_ids.count(b',') + 1:,} rail_ids listed")
    return None


def _copy_text(cell: bytes) -> bytes:
    return cell.replace(b"\\", b"\\\\")
