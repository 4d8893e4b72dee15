"""The file names of a Snaptron compilation directory, in one place.

Snaptron keeps each compilation's files side by side under fixed names; the
generator (synthetic.py) writes them so, and the loader (loaders/directory.py,
samples.py, sample_groups.py, sample_fields.py) recognises them by these
names, so a directory copied from a Snaptron server or written by the
generator loads whole.
"""

JUNCTIONS_FILE = "junctions.bgz"
# What a junctions file may be called: bgzip (Snaptron's), gzip, or plain TSV.
JUNCTIONS_FILES = (JUNCTIONS_FILE, "junctions.gz", "junctions.tsv")
# Snaptron's gene and exon coverage rows (the /genes and /exons endpoints): the junction file's 17 columns.
GENE_ROWS_FILE = "genes.bgz"
EXON_ROWS_FILE = "exons.bgz"
SAMPLES_FILE = "samples.tsv"
GROUPS_FILE = "samples.groups.tsv"
TYPES_FILE = "lucene_indexed_numeric_types.tsv"
# The genome's RefSeq transcripts (UCSC refFlat layout), for gene names in regions=.
GENES_FILE = "refseq_transcripts_by_hgvs.tsv"
# The compilation's GENCODE genes, for versioned gene ids in regions=: any file whose name ends in one of
# these (gencode.v26.annotation.gff3.gz, …). Only these endings: all_transcripts.gtf.bgz (bgzip) is not one.
GENCODE_ENDINGS = (".gff3", ".gff3.gz", ".gtf", ".gtf.gz")
# The compilation's transcripts in Snaptron's GTF-like form, for /annotations.
ANNOTATIONS_FILE = "all_transcripts.gtf.bgz"


def is_gencode_file(name: str) -> bool:
    """Whether a directory entry is a GENCODE gene file by its name (never the annotations file)."""
    return name != ANNOTATIONS_FILE and name.endswith(GENCODE_ENDINGS)
