"""The compilations a deployment serves: names, DataSource labels, genomes, and where their tables live.

Snaptron serves many compilations from one host (`/gtex/snaptron`,
`/tcga/snaptron`, …; SNAPTRON-WIRE.md §1, §13), and clients combine them
(the Python client's `--datasrc gtex,tcga`, snapcount's `junction_union`). A
snapthunder deployment does the same on one set of shard servers: each
compilation is a PostgreSQL *schema* of its own on every shard, named by the
compilation and holding every table of the shard schema file
(images/postgres-shard/sql/02-schema.sql, run in it by the loader). The
loader and the API reach a compilation's tables by putting its schema first
on the session's `search_path` (`search_path_option`), so no statement names
a schema and no list of tables is kept anywhere but in that file. docs/DEPLOY.md
has the measurements behind this choice over one shard set per compilation.

A compilation is written `name[:DataSource[:genome]]` in the stack config and
on command lines (`gtex`, `srav1m:srav1m:mm10`); the label defaults to the one
Snaptron prints for that name (§1) and the genome to hg38.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Iterable

# The first column's `DataSource` Snaptron prints for each compilation, case as it writes it (§1);
# a compilation not listed here prints its own name (gtexv2, tcgav2, srav3h, srav1m, …).
DATA_SOURCES = {"srav1": "SRAv1", "srav2": "SRAv2", "gtex": "GTEx", "tcga": "TCGA", "ccle": "CCLE",
                "encode1159": "ENCODE1159"}
# The genome of the compilations Snaptron serves that are not human hg38 (§13).
GENOMES = ("hg38", "mm10")
DEFAULT_GENOME = "hg38"
KNOWN_GENOMES = {"srav1m": "mm10", "mesa": "mm10", "clark": "mm10", "ct_m_s": "mm10", "ct_m_b": "mm10",
                 "supermouse": "mm10"}
# A schema name PostgreSQL takes unquoted, and a path segment of every URL; not a name the server reserves.
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_RESERVED = ("public", "information_schema", "snaptron")
_LABEL = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class CompilationError(ValueError):
    """A compilation name, label or genome that cannot be served; the message says what is allowed."""


@dataclasses.dataclass(frozen=True)
class Compilation:
    name: str
    data_source: str
    genome: str = DEFAULT_GENOME

    def to_document(self) -> dict[str, str]:
        return {"data_source": self.data_source, "genome": self.genome}

    def spelled(self) -> str:
        """`gtex:GTEx:hg38`: the form `parse` reads."""
        return f"{self.name}:{self.data_source}:{self.genome}"


def check_name(name: str) -> str:
    """`name` if it can be a compilation (a schema and a URL segment); CompilationError otherwise."""
    if not _NAME.fullmatch(name) or name in _RESERVED or name.startswith("pg_"):
        raise CompilationError(f"a compilation name is lower-case letters, digits and _ (starting with a letter, "
                               f"at most 63), not {', '.join(_RESERVED)} or pg_*, such as gtex, tcga or srav2; "
                               f"got {name!r}")
    return name


def compilation(name: str, data_source: str | None = None, genome: str | None = None) -> Compilation:
    """A checked compilation, with Snaptron's label and genome for `name` where not given."""
    check_name(name)
    data_source = data_source or DATA_SOURCES.get(name, name)
    if not _LABEL.fullmatch(data_source):
        raise CompilationError(f"compilation {name}: the DataSource label is letters, digits, _ . - "
                               f"(such as GTEx or gtexv2); got {data_source!r}")
    genome = genome or KNOWN_GENOMES.get(name, DEFAULT_GENOME)
    if genome not in GENOMES:
        raise CompilationError(f"compilation {name}: the genome is one of {', '.join(GENOMES)}; got {genome!r}")
    return Compilation(name, data_source, genome)


def parse(spelled: str) -> Compilation:
    """`gtex`, `gtex:GTEx` or `srav1m:srav1m:mm10` → a Compilation."""
    parts = spelled.split(":")
    if len(parts) > 3 or not all(parts):
        raise CompilationError(f"a compilation is written name[:DataSource[:genome]], such as gtex, tcga:TCGA or "
                               f"srav1m:srav1m:mm10; got {spelled!r}")
    return compilation(*parts)


def parse_all(spelled: Iterable[str]) -> tuple[Compilation, ...]:
    """Several compilations, at least one, each name once."""
    result = tuple(parse(item) for item in spelled)
    if not result:
        raise CompilationError("at least one compilation must be served, such as [\"gtex\"]")
    names = [item.name for item in result]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise CompilationError(f"each compilation is served once; {', '.join(repeated)} is listed twice")
    return result


def search_path_option(name: str) -> str:
    """The libpq `options` that make a session see `name`'s tables, then the shared functions in public."""
    return f"-c search_path={check_name(name)},public"
