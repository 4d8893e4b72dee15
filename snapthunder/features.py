"""The three kinds of coverage row a compilation has: junctions, genes and exons, in one place.

Snaptron's genes.bgz and exons.bgz (SNAPTRON-WIRE.md §9) have the junction
file's 17 columns, with other meanings for some of them (columns 7-9 are
empty, 10 is the exon count, 11 `gene_id:gene_name:gene_type:bp_length`),
their own snaptron_id space, and the junction query language, junction
column names included (`rfilter=samples_count>:5`, `fields=snaptron_id`).
So each kind is the same machinery over its own table: the shard SQL's
tables of identical shape, the loader's pipeline, the API's answer path.
What differs is here: the file name, the shard table and its per-chromosome
statistics, the row prefix letter (`GTEx:I`, `GTEx:G`, `GTEx:E`), the
endpoint and the header's column names.
"""

from __future__ import annotations

import dataclasses

from snapthunder.junctions import COLUMNS
from snapthunder.layout import EXON_ROWS_FILE, GENE_ROWS_FILE, JUNCTIONS_FILE

# Snaptron's gene header (snapconfshared.py), after `DataSource:Type`: the junction positions with gene meanings.
GENE_HEADER = ("snaptron_id", "chromosome", "start", "end", "length", "strand", "NA", "NA", "NA", "exon_count",
               "gene_id:gene_name:gene_type:bp_length", "samples", "samples_count", "coverage_sum", "coverage_avg",
               "coverage_median", "compilation_id")


@dataclasses.dataclass(frozen=True)
class Feature:
    """One kind of row: where it is stored, how it is checked when loaded and how it is printed."""

    name: str                 # the endpoint: /<compilation>/<name>
    file: str                 # its file in a compilation directory
    table: str                # the shard table (02-schema.sql)
    stats_table: str          # its rows and longest row per chromosome, for overlap bounds
    row_type: str             # the letter after `DataSource:` in each row
    header: tuple[str, ...]   # the header's names, by junction column
    row_format: str           # how its lines are checked (junctions.ROW_FORMATS)

    def header_name(self, column: str) -> str:
        """The header's name for a junction column (`left_annotated` is `exon_count` for genes)."""
        return self.header[COLUMNS.index(column)]


JUNCTIONS = Feature("snaptron", JUNCTIONS_FILE, "intron", "chromosome_stats", "I", COLUMNS, "junction")
# Exons get the gene header: Snaptron's exon header is empty, and snapcount's query_exon needs the names (§9).
GENES = Feature("genes", GENE_ROWS_FILE, "gene", "gene_chromosome_stats", "G", GENE_HEADER, "coverage")
EXONS = Feature("exons", EXON_ROWS_FILE, "exon", "exon_chromosome_stats", "E", GENE_HEADER, "coverage")
FEATURES = {feature.name: feature for feature in (JUNCTIONS, GENES, EXONS)}
# The gene and exon files of a compilation directory, loaded with its junctions.
COVERAGE_FEATURES = (GENES, EXONS)
