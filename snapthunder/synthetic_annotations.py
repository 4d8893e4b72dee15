"""The generated compilation's annotation files: GENCODE-like genes (a GFF3) and all_transcripts.gtf.bgz.

Both describe the genes of the generated RefSeq table (synthetic_genes.py),
so a gene's symbol, its GENCODE id and its transcripts all point at the
same junctions:

* `GENCODE_FILE` (GENCODE's GFF3 layout, gzipped): per gene of
  synthetic_genes.genes (one per symbol and locus: SYNGM, on three loci, is
  three genes, as GENCODE has one gene per locus) a `gene` line with its
  span and its versioned id (synthetic_genes.gene_id, the id genes.bgz
  names too), then its `transcript` and `exon` lines.
* `all_transcripts.gtf.bgz` (Snaptron's GTF-like layout, bgzip, sorted by
  position): each RefSeq transcript as a coding row (`GC,RS`, two exons and
  a CDS span), and per gene a non-coding row of three exons (`ES`) and
  `index % 4` coding variants of three to five exons, so /annotations'
  ranking (#exons + 100000 with a CDS) and its limit have something to sort.
"""

from __future__ import annotations

import gzip
import io
import tempfile
from pathlib import Path
from typing import Iterator

import pysam

from snapthunder.layout import ANNOTATIONS_FILE
from snapthunder.synthetic_genes import EXON_LENGTH, Transcript, genes

GENCODE_FILE = "gencode.vS1.annotation.gff3.gz"
VARIANTS = 4           # gene n has n % VARIANTS extra coding transcripts


def write_annotation_files(out_dir: Path, table: list[Transcript]) -> tuple[Path, Path]:
    """Write the GENCODE GFF3 and all_transcripts.gtf.bgz for the RefSeq `table` into out_dir; their paths."""
    genes = _genes(table)
    gencode_path = out_dir / GENCODE_FILE
    # mtime 0: gzip's header would otherwise hold the time of writing, and two runs' files would differ.
    with gzip.GzipFile(gencode_path, "wb", mtime=0) as packed, \
            io.TextIOWrapper(packed, encoding="ascii", newline="\n") as handle:
        handle.write("##gff-version 3\n#description: snapthunder's generated GENCODE-like genes\n")
        handle.writelines(_gff3_lines(genes))
    annotations_path = out_dir / ANNOTATIONS_FILE
    with tempfile.NamedTemporaryFile("w", encoding="ascii", suffix=".gtf", dir=out_dir, delete=False) as text:
        rows = sorted(_transcript_rows(genes), key=lambda row: (row[0], row[1], row[2]))
        text.writelines(line for _, _, _, line in rows)
    try:
        pysam.tabix_compress(text.name, str(annotations_path), force=True)
    finally:
        Path(text.name).unlink()
    return gencode_path, annotations_path


def _genes(table: list[Transcript]) -> list[tuple[str, str, list[Transcript]]]:
    """(gene id, symbol, transcripts) per gene of synthetic_genes.genes (one per symbol and locus), in its order."""
    return [(gene.gene_id, gene.symbol, [transcript for transcript in table if transcript.symbol == gene.symbol
                                         and transcript.chromosome == gene.chromosome
                                         and gene.start <= transcript.start + 1 and transcript.end <= gene.end])
            for gene in genes(table)]


def _gff3_lines(genes: list[tuple[str, str, list[Transcript]]]) -> Iterator[str]:
    for identifier, symbol, transcripts in genes:
        first = transcripts[0]
        start, end = min(t.start for t in transcripts) + 1, max(t.end for t in transcripts)
        yield (f"{first.chromosome}\tHAVANA\tgene\t{start}\t{end}\t.\t{first.strand}\t.\tID={identifier};"
               f"gene_id={identifier};gene_type=protein_coding;gene_name={symbol};level=2\n")
        for number, transcript in enumerate(transcripts, 1):
            name = f"{identifier.split('.')[0].replace('ENSG', 'ENST')}{number}.1"
            common = f"gene_id={identifier};transcript_id={name};gene_name={symbol}"
            yield (f"{transcript.chromosome}\tHAVANA\ttranscript\t{transcript.start + 1}\t{transcript.end}\t.\t"
                   f"{transcript.strand}\t.\tID={name};Parent={identifier};{common}\n")
            for exon, (low, high) in enumerate(_exons(transcript, 2), 1):
                yield (f"{transcript.chromosome}\tHAVANA\texon\t{low}\t{high}\t.\t{transcript.strand}\t.\t"
                       f"ID=exon:{name}:{exon};Parent={name};{common};exon_number={exon}\n")


def _transcript_rows(genes: list[tuple[str, str, list[Transcript]]]) -> Iterator[tuple[str, int, int, str]]:
    """(chromosome, start, end, line) of every all_transcripts row, unsorted."""
    for identifier, symbol, transcripts in genes:
        index = int(identifier[4:].split(".")[0])
        for number, transcript in enumerate(transcripts, 1):
            yield _row(transcript, f"NM_{index:06d}{number}", "GC,RS", 2, coding=True)
        widest = max(transcripts, key=lambda t: t.end - t.start)
        yield _row(widest, f"ES_{index:06d}", "ES", 3, coding=False)
        for variant in range(index % VARIANTS):
            yield _row(widest, f"XM_{index:06d}{variant}", "GC", 3 + variant % 3, coding=True)


def _row(transcript: Transcript, name: str, sources: str, exon_count: int, coding: bool) -> tuple[str, int, int, str]:
    start, end = transcript.start + 1, transcript.end
    exons = ",".join(f"{low}-{high}" for low, high in _exons(transcript, exon_count))
    cds = f'cds_span "{start + EXON_LENGTH // 2}-{end - EXON_LENGTH // 2}";' if coding else ""
    line = (f"{transcript.chromosome}\t{sources}\ttranscript\t{start}\t{end}\t.\t{transcript.strand}\t.\t"
            f'transcript_id "{name}";{cds}exons "{exons}";\n')
    return transcript.chromosome, start, end, line


def _exons(transcript: Transcript, count: int) -> list[tuple[int, int]]:
    """`count` exons of EXON_LENGTH spread evenly over the transcript, first at its start, last at its end (1-based)."""
    start, end = transcript.start + 1, transcript.end
    step = (end - start + 1 - EXON_LENGTH) // (count - 1)
    return [(start + k * step, start + k * step + EXON_LENGTH - 1) if k < count - 1 else (end - EXON_LENGTH + 1, end)
            for k in range(count)]
