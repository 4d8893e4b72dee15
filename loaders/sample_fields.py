"""The type of each samples.tsv column, as Snaptron's registry lists it: t text, i integer, f float.

Snaptron infers a column's type as the plurality of its cells' kinds
(integer, float, text), NA and blank cells ignored; a column with no other
cells is `n`. A compilation may ship the types instead, in
`lucene_indexed_numeric_types.tsv` beside samples.tsv (one `<field>\\t<type>`
line per column, then `all\\tt`): those win, and a column it does not name
is inferred.
"""

from __future__ import annotations

import re
from pathlib import Path

from snapthunder.layout import TYPES_FILE

TYPES = ("t", "i", "f", "n")
MISSING = {b"", b"NA"}
_INTEGER = re.compile(rb"[-+]?\d+")
_FLOAT = re.compile(rb"[-+]?(?:\d+\.\d*|\.\d+|\d+(?:\.\d*)?[eE][-+]?\d+)")
# On a tie the more general kind wins: any text makes a column searchable as text.
_PREFERENCE = ("t", "f", "i")


class SampleFieldsError(ValueError):
    """A types file that is not `<field>\\t<t|i|f|n>` lines; the message names the file and line."""


class FieldTypes:
    """Counts each column's cell kinds as lines stream past; `types()` gives the verdict."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.counts = [{"t": 0, "f": 0, "i": 0} for _ in names]

    def add(self, cells: list[bytes]) -> None:
        for counts, cell in zip(self.counts, cells):
            if cell in MISSING:
                continue
            if _INTEGER.fullmatch(cell):
                counts["i"] += 1
            elif _FLOAT.fullmatch(cell):
                counts["f"] += 1
            else:
                counts["t"] += 1

    def types(self, shipped: dict[str, str] | None = None) -> list[tuple[str, str]]:
        """(name, type) per column in header order: the shipped type where there is one, else inferred."""
        result = []
        for name, counts in zip(self.names, self.counts):
            if shipped and name in shipped:
                result.append((name, shipped[name]))
            elif not any(counts.values()):
                result.append((name, "n"))
            else:
                result.append((name, max(_PREFERENCE, key=lambda kind: (counts[kind], -_PREFERENCE.index(kind)))))
        return result


def shipped_types(samples_path: str) -> dict[str, str] | None:
    """The types file beside `samples_path`, if the compilation ships one (not for stdin or URLs)."""
    path = Path(samples_path).with_name(TYPES_FILE)
    if samples_path == "-" or "://" in samples_path or not path.is_file():
        return None
    types = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        name, tab, kind = line.partition("\t")
        if not tab or kind.strip() not in TYPES:
            raise SampleFieldsError(f"{path}:{number}: expected <field><TAB><one of {' '.join(TYPES)}>, "
                                    f"got {line[:60]!r}")
        if name != "all":
            types[name] = kind.strip()
    return types
