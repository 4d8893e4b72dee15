"""The shard plan: which shard holds which chromosome.

One pure function, `plan_shards`, turns the stack's shard setting into the
plan; infra, the local environment, the loader, the API and the bench all use
it (or the plan stored in the endpoints document, which it made), so routing is
never written twice.

Balancing weight: the GRCh38 primary-assembly length of each chromosome. Sizes
are exact, public and stable, and junction counts grow with chromosome size
closely enough for a handful of shards; the plan is longest-processing-time
greedy (largest chromosome to the lightest shard, ties to the lower index),
which is deterministic and within a few percent of the best balance.

Contigs: an alt, random or fix contig named `<parent>_<accession>_<kind>`
(`chr1_KI270706v1_random`) lives with its parent chromosome, so a region query
on one assembled chromosome and its pieces touches one shard. Unplaced contigs
(`chrUn_*`), `chrEBV` and any name the plan does not know go to the *catch-all*
shard, the one that holds chrM: nothing is ever dropped.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Iterable, Mapping

# GRCh38 primary assembly, in karyotype order (UCSC hg38 chrom.sizes).
GRCH38_LENGTHS: Mapping[str, int] = {
    "chr1": 248_956_422, "chr2": 242_193_529, "chr3": 198_295_559,
    "chr4": 190_214_555, "chr5": 181_538_259, "chr6": 170_805_979,
    "chr7": 159_345_973, "chr8": 145_138_636, "chr9": 138_394_717,
    "chr10": 133_797_422, "chr11": 135_086_622, "chr12": 133_275_309,
    "chr13": 114_364_328, "chr14": 107_043_718, "chr15": 101_991_189,
    "chr16": 90_338_345, "chr17": 83_257_441, "chr18": 80_373_285,
    "chr19": 58_617_616, "chr20": 64_444_167, "chr21": 46_709_983,
    "chr22": 50_818_468, "chrX": 156_040_895, "chrY": 57_227_415,
    "chrM": 16_569,
}
CHROMOSOMES: tuple[str, ...] = tuple(GRCH38_LENGTHS)
# The mouse genome's (mm10, GRCm38) assembled chromosomes: the same names as 19 of GRCh38's, X, Y and M, so
# every plan places a mouse compilation's chromosomes (srav1m) on the same named shards as a human one's.
MM10_CHROMOSOMES: tuple[str, ...] = tuple(f"chr{number}" for number in range(1, 20)) + ("chrX", "chrY", "chrM")
GENOME_CHROMOSOMES: Mapping[str, tuple[str, ...]] = {"hg38": CHROMOSOMES, "mm10": MM10_CHROMOSOMES}
CATCH_ALL_CHROMOSOME = "chrM"
PER_CHROMOSOME = "per-chromosome"

_CONTIG_PARENT = re.compile(r"^(chr(?:[0-9]+|X|Y|M))_[^_]+_(?:random|alt|fix)$")


class PlanError(ValueError):
    """A shard setting the plan cannot honour; the message names the allowed values."""


@dataclasses.dataclass(frozen=True)
class ShardPlan:
    """Shard name → chromosomes (karyotype order), plus the catch-all shard.

    Shard names are Kubernetes-safe (`shard-0`, or `shard-chrx` per chromosome)
    and stable for a given setting, so infra keeps their volumes across updates.
    """

    shards: Mapping[str, tuple[str, ...]]
    catch_all: str
    _owners: dict[str, str] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.catch_all not in self.shards:
            raise PlanError(f"catch-all shard {self.catch_all!r} is not one of {sorted(self.shards)}")
        owners: dict[str, str] = {}
        for shard, chromosomes in self.shards.items():
            for chromosome in chromosomes:
                if chromosome in owners:
                    raise PlanError(f"{chromosome} is in both {owners[chromosome]} and {shard}")
                owners[chromosome] = shard
        object.__setattr__(self, "_owners", owners)

    @property
    def chromosome_shards(self) -> dict[str, str]:
        """Chromosome → shard for every chromosome the plan names."""
        return dict(self._owners)

    def shard_for(self, chromosome: str) -> str:
        """The shard that holds `chromosome`, for any name at all (never raises)."""
        owners = self._owners
        shard = owners.get(chromosome)
        if shard is not None:
            return shard
        parent = _CONTIG_PARENT.match(chromosome)
        if parent and parent.group(1) in owners:
            return owners[parent.group(1)]
        return self.catch_all

    def misplaced(self, shard: str, chromosomes: Iterable[str]) -> list[str]:
        """Those of `chromosomes` (held by `shard`) that the plan places elsewhere: copies a re-shard left behind."""
        return [chromosome for chromosome in chromosomes if self.shard_for(chromosome) != shard]


def plan_shards(setting: int | str) -> ShardPlan:
    """The plan for a shard count (1–25) or `"per-chromosome"`.

    A count arrives as an int or a decimal string (stack config, CLI flags).
    """
    if setting == PER_CHROMOSOME:
        shards = {shard_name_for_chromosome(c): (c,) for c in CHROMOSOMES}
        return ShardPlan(shards, catch_all=shard_name_for_chromosome(CATCH_ALL_CHROMOSOME))
    count = _shard_count(setting)
    loads = [0] * count
    members: list[list[str]] = [[] for _ in range(count)]
    for chromosome in sorted(CHROMOSOMES, key=lambda c: (-GRCH38_LENGTHS[c], CHROMOSOMES.index(c))):
        lightest = min(range(count), key=lambda index: (loads[index], index))
        loads[lightest] += GRCH38_LENGTHS[chromosome]
        members[lightest].append(chromosome)
    shards = {
        f"shard-{index}": tuple(sorted(chromosomes, key=CHROMOSOMES.index))
        for index, chromosomes in enumerate(members)
    }
    catch_all = next(name for name, chromosomes in shards.items() if CATCH_ALL_CHROMOSOME in chromosomes)
    return ShardPlan(shards, catch_all)


def shard_name_for_chromosome(chromosome: str) -> str:
    """`shard-chr1`, `shard-chrx`: per-chromosome names, lower case as Kubernetes requires."""
    return f"shard-{chromosome.lower()}"


def _shard_count(setting: int | str) -> int:
    allowed = f"an integer from 1 to {len(CHROMOSOMES)}, or {PER_CHROMOSOME!r}"
    if isinstance(setting, bool) or (isinstance(setting, float) and not setting.is_integer()):
        raise PlanError(f"shards must be {allowed}; got {setting!r}")
    try:
        count = int(setting)
    except (TypeError, ValueError):
        raise PlanError(f"shards must be {allowed}; got {setting!r}") from None
    if not 1 <= count <= len(CHROMOSOMES):
        raise PlanError(f"shards must be {allowed}; got {count}")
    return count
