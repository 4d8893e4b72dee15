"""The compilation every workload measures: a generated GTEx-like one, made once and reused.

`--data DIR` names it; a directory without `junctions.bgz` (or any other file
the generator writes: the genes workload needs genes.bgz) gets one from the
generator (snapthunder.synthetic, calibrated to the paper's chr1 counts), so a
second run reuses the first one's files instead of spending half a minute
writing them again. `--load` puts it into the target's shards with the loader;
otherwise the shards must already hold it (the paper workload checks).
"""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path

from snapthunder import synthetic
from snapthunder.features import COVERAGE_FEATURES, Feature
from snapthunder.layout import ANNOTATIONS_FILE, GENES_FILE
from snapthunder.synthetic_annotations import GENCODE_FILE

FULL_SCALE = 1.0
QUICK_SCALE = 0.015
JUNCTIONS_NAME = synthetic.JUNCTIONS_FILE
SAMPLES_NAME = synthetic.SAMPLES_FILE


@dataclasses.dataclass(frozen=True)
class Compilation:
    directory: Path

    @property
    def junctions_path(self) -> Path:
        return self.directory / JUNCTIONS_NAME

    @property
    def samples_path(self) -> Path:
        return self.directory / SAMPLES_NAME

    @property
    def genes_path(self) -> Path:
        return self.directory / GENES_FILE

    @property
    def gencode_path(self) -> Path:
        return self.directory / GENCODE_FILE

    def sample_total(self) -> int:
        """Samples in samples.tsv (its header line aside): the range service queries draw `sids` from."""
        with self.samples_path.open("rb") as handle:
            return max(sum(1 for _ in handle) - 1, 1)

    def coverage_files(self) -> list[tuple[Feature, str]]:
        """Its genes.bgz and exons.bgz, as the loader takes them."""
        return [(feature, str(self.directory / feature.file)) for feature in COVERAGE_FEATURES]

    def decompressed(self) -> bytes:
        """The junction lines as the servers receive them: what a raw COPY is given."""
        with gzip.open(self.junctions_path, "rb") as handle:
            return handle.read()


def default_directory(scale: float, background_per_mb: float = synthetic.DEFAULT_BACKGROUND_PER_MB) -> Path:
    """Where a compilation of that scale (and background density, when not the default) is cached."""
    background = "" if background_per_mb == synthetic.DEFAULT_BACKGROUND_PER_MB else f"-background-{background_per_mb:g}"
    return Path(".snapthunder") / "bench-data" / f"scale-{scale:g}{background}"


def prepare_needed(directory: Path) -> bool:
    """Whether `prepare` would generate (the demo says so first: it is its longest step)."""
    names = (JUNCTIONS_NAME, SAMPLES_NAME, GENES_FILE, GENCODE_FILE, ANNOTATIONS_FILE,
             *(feature.file for feature in COVERAGE_FEATURES))
    return not all((directory / name).exists() for name in names)


def prepare(directory: Path, scale: float, progress: bool,
            background_per_mb: float = synthetic.DEFAULT_BACKGROUND_PER_MB) -> Compilation:
    """The compilation in `directory`, generated there at `scale` if it holds none yet."""
    if prepare_needed(directory):
        synthetic.generate(directory, scale=scale, background_per_mb=background_per_mb, progress=progress)
    return Compilation(directory)
