"""Loading the compilation's GENCODE genes (a `*.gff3(.gz)` or `*.gtf(.gz)`) into every shard's `gencode_gene`.

Snaptron resolves a versioned gene id in `regions=` (`ENSG00000171094.15`,
SNAPTRON-WIRE.md §4 item 2b) through the compilation's GENCODE file: each
`gene` feature, keyed by its versioned `gene_id` attribute, stands for its
span, and the id forces exact=1. Only `gene` lines are kept; every line is
checked (feature_lines.py), and a gene line without a gene_id, or with one
that an earlier line already gave, stops the load naming both. The file is
kept until a load gives one again, like the RefSeq transcripts (genes.py);
ids are stored upper-cased, so any case finds them.

GFF3 writes the attribute `gene_id=ENSG…`; GTF writes `gene_id "ENSG…";`.
Which one a file is comes from its name (layout.GENCODE_ENDINGS).
"""

from __future__ import annotations

import re

from loaders.feature_lines import SpooledTable, bad_line, copy_text, features, shown

WHAT = "the GENCODE gene file"
_GFF3_GENE_ID = re.compile(rb"(?:^|;)\s*gene_id=([^;]*)")
_GTF_GENE_ID = re.compile(rb'(?:^|;)\s*gene_id "([^"]*)"')
_GENE_ID = re.compile(rb"[A-Za-z0-9_.\-]{1,100}")


class GencodeFile(SpooledTable):
    """A GENCODE gene file, read and checked when opened; `genes` counts the gene features."""

    def __init__(self, path: str) -> None:
        super().__init__(path, "gencode_gene", ("gene_id", "chromosome", "start", "end"))
        gene_id = _GTF_GENE_ID if path.removesuffix(".gz").endswith(".gtf") else _GFF3_GENE_ID
        first_line: dict[bytes, int] = {}
        for feature in features(path, WHAT):
            if feature.cells[2] != b"gene":
                continue
            found = gene_id.search(feature.cells[8])
            if found is None or not _GENE_ID.fullmatch(found.group(1)):
                reason = (f"a gene without a gene_id attribute ({shown(feature.cells[8], 60)})" if found is None
                          else f"gene_id {shown(found.group(1))} is not letters, digits and . _ -")
                raise bad_line(path, feature.number, WHAT, reason)
            key = found.group(1).upper()
            if key in first_line:
                raise bad_line(path, feature.number, WHAT, f"gene_id {key.decode()} is also the gene of line "
                                                           f"{first_line[key]:,}; each gene id must be one gene")
            first_line[key] = feature.number
            self.add(None, b"\t".join((key, copy_text(feature.cells[0]), feature.cells[3], feature.cells[4])) + b"\n")
        self.genes = len(first_line)

    def summary(self) -> str:
        return f"loaded {self.genes:,} GENCODE genes from {self.path} into every shard"
