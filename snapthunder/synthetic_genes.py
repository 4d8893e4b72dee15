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

The same genes get Snaptron's coverage rows (genes.bgz, exons.bgz, the
junction file's 17 columns with gene meanings: snapthunder/features.py):
one gene row per symbol and locus (SYNGM's three loci are three genes, as
GENCODE has separate genes where RefSeq reuses a symbol), spanning its
transcripts, and one exon row per distinct exon. Gene ids are GENCODE-like
(`ENSG00000000001.1`), row ids count in gene order (the multi-locus gene
last) while the files are in genome order, as Snaptron's are; samples are
unsorted, statistics `%.3f`, columns 7-9 empty, the exon count in genes
only. A gene is covered by a fraction of the compilation's samples; its
exons by part of those, with part of their reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, NamedTuple, Sequence

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


def write_genes_table(path: Path, table: Sequence[Transcript]) -> None:
    """Write the refFlat table of `table` (transcripts() in file order) to `path`."""
    with path.open("w", encoding="ascii", newline="\n") as handle:
        for number, transcript in enumerate(table, 1):
            symbol, chromosome, strand, start, end = transcript
            exon_starts, exon_ends = f"{start},{end - EXON_LENGTH},", f"{start + EXON_LENGTH},{end},"
            handle.write(f"{symbol}\tNM_{number:06d}\t{chromosome}\t{strand}\t{start}\t{end}\t"
                         f"{start + EXON_LENGTH // 2}\t{end - EXON_LENGTH // 2}\t2\t{exon_starts}\t{exon_ends}\n")


class Gene(NamedTuple):
    gene_id: str          # GENCODE-like, versioned
    symbol: str
    chromosome: str
    strand: str
    start: int            # 1-based, inclusive
    end: int
    exons: tuple[tuple[int, int], ...]     # 1-based, inclusive, in genome order


GENE_SAMPLE_FRACTIONS = (0.05, 0.5)      # of the compilation's samples covering a gene
EXON_SAMPLE_FRACTIONS = (0.5, 1.0)       # of its gene's samples covering an exon


def gene_id(index: int) -> str:
    """The versioned GENCODE-like id of the index-th gene (1-based, in table order: SYNG<n> is gene n)."""
    return f"ENSG{index:011d}.1"


def genes(table: Sequence[Transcript]) -> list[Gene]:
    """The table's genes, one per symbol and locus (transcripts that overlap), in table order."""
    found: list[Gene] = []
    for transcript in table:
        exons = ((transcript.start + 1, transcript.start + EXON_LENGTH), (transcript.end - EXON_LENGTH + 1,
                                                                         transcript.end))
        previous = found[-1] if found else None
        if (previous and previous.symbol == transcript.symbol and previous.chromosome == transcript.chromosome
                and transcript.start < previous.end):
            found[-1] = previous._replace(start=min(previous.start, transcript.start + 1),
                                          end=max(previous.end, transcript.end),
                                          exons=tuple(sorted(set(previous.exons) | set(exons))))
        else:
            found.append(Gene(gene_id(len(found) + 1), transcript.symbol, transcript.chromosome,
                              transcript.strand, transcript.start + 1, transcript.end, exons))
    return found


def coverage_lines(table: Sequence[Transcript], random: numpy.random.Generator, sample_total: int,
                   rail_id_offset: int, source_dataset_id: int) -> tuple[list[str], list[str]]:
    """(genes.bgz lines, exons.bgz lines), each in genome order for tabix; ids in gene order; samples are
    rail_ids `rail_id_offset` … `rail_id_offset + sample_total - 1`, as the junctions'."""
    gene_rows, exon_rows = [], []
    for gene in genes(table):
        exonic = sum(end - start + 1 for start, end in gene.exons)
        described = f"{gene.gene_id}:{gene.symbol}:protein_coding:{exonic}"
        covered = rail_id_offset + random.permutation(sample_total)[:_share(random, sample_total, GENE_SAMPLE_FRACTIONS)]
        reads = 1 + numpy.floor(random.lognormal(4.0, 1.5) * random.pareto(2.0, covered.size)).astype(numpy.int64)
        gene_rows.append(_line(len(gene_rows), gene, gene.start, gene.end, str(len(gene.exons)), described,
                               covered, reads, source_dataset_id))
        for start, end in gene.exons:
            kept = random.random(covered.size) < random.uniform(*EXON_SAMPLE_FRACTIONS)
            exon_reads = numpy.maximum(1, numpy.floor(reads[kept] * random.uniform(0.1, 0.5))).astype(numpy.int64)
            exon_rows.append(_line(len(exon_rows), gene, start, end, "", described, covered[kept], exon_reads,
                                   source_dataset_id))
    return [line for _, line in sorted(gene_rows)], [line for _, line in sorted(exon_rows)]


def _share(random: numpy.random.Generator, total: int, fractions: tuple[float, float]) -> int:
    return max(1, int(total * random.uniform(*fractions)))


def _line(snaptron_id: int, gene: Gene, start: int, end: int, exon_count: str, described: str,
          samples: numpy.ndarray, reads: numpy.ndarray, source_dataset_id: int) -> tuple[tuple, str]:
    """(genome-order key, line) of one coverage row: the junction columns with gene meanings, stats as `%.3f`."""
    sample_list = "".join(f",{sample}:{count}" for sample, count in zip(samples.tolist(), reads.tolist()))
    total = int(reads.sum())
    average, median = (total / reads.size, float(numpy.median(reads))) if reads.size else (0.0, 0.0)
    line = (f"{snaptron_id}\t{gene.chromosome}\t{start}\t{end}\t{end - start + 1}\t{gene.strand}\t\t\t\t"
            f"{exon_count}\t{described}\t{sample_list}\t{reads.size}\t{total}\t{average:.3f}\t{median:.3f}\t"
            f"{source_dataset_id}\n")
    return (gene.chromosome.encode(), start, end), line
