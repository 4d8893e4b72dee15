"""A compilation directory loaded whole: which of its files the loader takes, and which it skips and why.

Snaptron keeps a compilation's files side by side under fixed names
(snapthunder/layout.py), so `python -m loaders DIR` can take them by name
rather than make the user spell out each option: the junctions file, the
samples (whose groups and shipped field types samples.py picks up beside
them), the genome's RefSeq transcripts, the gene and exon coverage rows
(genes.bgz, exons.bgz, loaded with the junctions into their own tables),
the compilation's GENCODE genes (one `*.gff3`, `*.gff3.gz`, `*.gtf` or
`*.gtf.gz`: layout.is_gencode_file) and its transcripts for /annotations
(`all_transcripts.gtf.bgz`, which is bgzip and so never taken for the
GENCODE file). Everything else is listed with
the reason it is skipped, so a file the user expected to load is never
silently left out.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from pathlib import Path
from typing import Iterator

from snapthunder.features import COVERAGE_FEATURES, Feature
from snapthunder.layout import (ANNOTATIONS_FILE, GENCODE_ENDINGS, GENES_FILE, GROUPS_FILE, JUNCTIONS_FILES,
                                SAMPLES_FILE, TYPES_FILE, is_gencode_file)

# Snaptron's files this loader does not serve yet, by name pattern, with the reason given when skipping one.
NOT_SERVED = (
    ("*.tbi", "a tabix index: the shards index the junctions themselves"),
    ("*.rejects.tsv", "a loader's rejects file"),
)


class DirectoryError(ValueError):
    """A directory that cannot be loaded as a compilation (a usage error); the message names what it holds."""


@dataclasses.dataclass(frozen=True)
class CompilationDirectory:
    """The files a compilation directory gives the load, and (path, reason) for each it skips."""

    junctions: Path
    samples: Path | None
    genes: Path | None
    coverage: list[tuple[Feature, Path]]      # genes.bgz, exons.bgz: those it holds
    gencode: Path | None
    annotations: Path | None
    skipped: list[tuple[Path, str]]


def read_directory(directory: Path) -> CompilationDirectory:
    """Recognise `directory`'s files by name; DirectoryError unless it holds exactly one junctions file."""
    names = sorted(path.name for path in directory.iterdir())
    junctions = [name for name in names if name in JUNCTIONS_FILES]
    if len(junctions) != 1:
        found = ", ".join(names) or "nothing"
        problem = "no junctions file" if not junctions else f"{len(junctions)} junctions files"
        raise DirectoryError(f"{directory}: {problem} (one of {', '.join(JUNCTIONS_FILES)}); it holds: {found}. "
                             "Give the directory of one compilation, or the junctions file itself")
    gencode = [name for name in names if is_gencode_file(name) and not (directory / name).is_dir()]
    if len(gencode) > 1:
        raise DirectoryError(f"{directory}: {len(gencode)} GENCODE gene files ({', '.join(gencode)}; names ending "
                             f"{' '.join(GENCODE_ENDINGS)}): keep the compilation's one, or give it with --gencode")

    def given(name: str) -> Path | None:
        return directory / name if name in names else None

    coverage = [(feature, directory / feature.file) for feature in COVERAGE_FEATURES if feature.file in names]
    taken = ({junctions[0], SAMPLES_FILE, GENES_FILE, ANNOTATIONS_FILE, *gencode}
             | {feature.file for feature in COVERAGE_FEATURES}
             | ({GROUPS_FILE, TYPES_FILE} if SAMPLES_FILE in names else set()))
    skipped = [(directory / name, reason) for name, reason in _reasons(directory, names, taken)]
    return CompilationDirectory(directory / junctions[0], given(SAMPLES_FILE), given(GENES_FILE), coverage,
                                given(gencode[0]) if gencode else None, given(ANNOTATIONS_FILE), skipped)


def _reasons(directory: Path, names: list[str], taken: set[str]) -> Iterator[tuple[str, str]]:
    for name in names:
        if name in taken:
            continue
        if name in (GROUPS_FILE, TYPES_FILE):
            yield name, f"it goes with samples, and there is no {SAMPLES_FILE} beside it"
        elif (directory / name).is_dir():
            yield name, "a directory (only the files of DIR itself are loaded)"
        else:
            yield name, next((reason for pattern, reason in NOT_SERVED if fnmatch.fnmatchcase(name, pattern)),
                             "not a Snaptron file this loader knows")
