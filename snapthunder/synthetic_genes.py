"""The generated compilation's genes table: a small refseq_transcripts_by_hgvs.tsv where its junctions are dense.

Gene names in `regions=` (snapthunder/gene_loci.py) need the genome's RefSeq
transcripts; the real file (~190 K lines) describes real genes, which the
generated junctions do not follow, so a gene name would answer arbitrary
rows. This table instead places GENE_COUNT genes evenly over chr1's
calibrated stretch, where the generator puts the paper's 618 K junctions,
so every gene answers junctions; and one symbol, MULTI_LOCUS_SYMBOL, has
transcripts far apart on chr1 and on chr2, so it merges into several loci,
as CD99 (chrX and chrY) does in the real file.

The layout is UCSC's refFlat, as loaders/genes.py reads it: symbol, RefSeq
name, chromosome, strand, txStart (0-based), txEnd, cdsStart, cdsEnd, exon
count, exon starts, exon ends. The exons are a first and a last one; only
the first six columns are read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, NamedTuple

import numpy

GENE_COUNT = 300
GENE_STRETCH = ("chr1", 1_000_000, 25_000_000)      # inside the paper's calibrated chr1:1-25,000,000
GENE_LENGTHS = (10_000, 60_000)
SECOND_TRANSCRIPT_FRACTION = 0.4                     # genes with a shorter second transcript (one locus still)
SYMBOL_PREFIX = "SYNG"
MULTI_LOCUS_SYMBOL = "SYNGM"
# Its transcripts, 0-based half-open like refFlat: two on chr1 more than 10 kb apart, one on chr2.
MULTI_LOCUS_TRANSCRIPTS = (("chr1", 2_000_000, 2_040_000), ("chr1", 12_000_000, 12_030_000),
                           ("chr2", 1_000_000, 1_100_000))
EXON_LENGTH = 200


class Transcript(NamedTuple):
    symbol: str
    chromosome: str
    strand: str
    start: int      # 0-based, as refFlat's txStart
    end: int


def transcripts(random: numpy.random.Generator) -> Iterator[Transcript]:
    """The table's transcripts, in file order: genome order, the multi-locus symbol's after the others."""
    chromosome, low, high = GENE_STRETCH
    slot = (high - low) // GENE_COUNT
    lengths = random.integers(GENE_LENGTHS[0], GENE_LENGTHS[1] + 1, GENE_COUNT)
    offsets = random.integers(0, slot - GENE_LENGTHS[1], GENE_COUNT)
    strands = random.choice(["+", "-"], GENE_COUNT)
    second = random.random(GENE_COUNT) < SECOND_TRANSCRIPT_FRACTION
    for index in range(GENE_COUNT):
        start = low + index * slot + int(offsets[index])
        end = start + int(lengths[index])
        symbol = f"{SYMBOL_PREFIX}{index + 1}"
        yield Transcript(symbol, chromosome, str(strands[index]), start, end)
        if second[index]:
            yield Transcript(symbol, chromosome, str(strands[index]), start + (end - start) // 3, end)
    for chromosome, start, end in MULTI_LOCUS_TRANSCRIPTS:
        yield Transcript(MULTI_LOCUS_SYMBOL, chromosome, "+", start, end)


def write_genes_table(path: Path, table: list[Transcript]) -> None:
    """Write the refFlat table of `table` (transcripts() drawn once) to `path`."""
    with path.open("w", encoding="ascii", newline="\n") as handle:
        for number, transcript in enumerate(table, 1):
            symbol, chromosome, strand, start, end = transcript
            exon_starts, exon_ends = f"{start},{end - EXON_LENGTH},", f"{start + EXON_LENGTH},{end},"
            handle.write(f"{symbol}\tNM_{number:06d}\t{chromosome}\t{strand}\t{start}\t{end}\t"
                         f"{start + EXON_LENGTH // 2}\t{end - EXON_LENGTH // 2}\t2\t{exon_starts}\t{exon_ends}\n")
