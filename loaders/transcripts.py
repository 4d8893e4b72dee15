"""Loading the compilation's `all_transcripts.gtf.bgz` (what /annotations answers) onto the shards by chromosome.

Snaptron's file is GTF-like: one `transcript` row per transcript from
several annotation sources (`GC,ES`: GENCODE, Ensembl, …), whose attributes
give `transcript_id "…";cds_span "s-e";exons "s-e,…";`. /annotations
(SNAPTRON-WIRE.md §11) ranks a transcript, for gene-name regions, by its
number of exons plus 100,000 when it has a CDS span; that rank is computed
here once, and stored with the line's nine columns and its line number.

Each transcript goes to the shard the plan places its chromosome on, as
junctions do: the table grows with the annotation, not with the shard
count, and a region's transcripts are read where its junctions are. A load
that gives the file replaces every shard's transcripts (a shard holding
none of its chromosomes is emptied); a load without it keeps them. Every
line is checked first (feature_lines.py): the first bad one stops the load.
A CDS span counts when it is `s-e` with s ≥ 1 (GENCODE's non-coding
transcripts have none, or `0-0`).
"""

from __future__ import annotations

import re

from loaders.feature_lines import SpooledTable, bad_line, copy_text, features, shown
from snapthunder.plan import ShardPlan

WHAT = "the transcripts file"
CODING_RANK = 100_000
_EXONS = re.compile(rb'(?:^|;)\s*exons "([^"]*)"')
_EXON = re.compile(rb"[1-9]\d{0,9}-[1-9]\d{0,9}")
_CDS_SPAN = re.compile(rb'(?:^|;)\s*cds_span "(\d{1,10})-(\d{1,10})"')


class TranscriptsFile(SpooledTable):
    """An all_transcripts.gtf.bgz, read, checked and routed by `plan` when opened; `transcripts` counts them."""

    def __init__(self, path: str, plan: ShardPlan) -> None:
        super().__init__(path, "annotation_transcript", ("chromosome", "source", "feature", "start", "end", "score",
                                                         "strand", "frame", "attributes", "line", "rank"))
        self.transcripts = 0
        shards: dict[bytes, str] = {}
        for feature in features(path, WHAT):
            attributes = feature.cells[8]
            found = _EXONS.search(attributes)
            exons = found.group(1).rstrip(b",").split(b",") if found else []
            bad = next((exon for exon in exons if not _EXON.fullmatch(exon)), None)
            if found is None or not exons or bad is not None:
                reason = (f'no exons "s-e,…" attribute in {shown(attributes, 60)}' if found is None or not exons
                          else f"exon {shown(bad, 30)} is not start-end")
                raise bad_line(path, feature.number, WHAT, reason)
            cds = _CDS_SPAN.search(attributes)
            rank = len(exons) + (CODING_RANK if cds is not None and int(cds.group(1)) >= 1 else 0)
            chromosome = feature.cells[0]
            if chromosome not in shards:
                shards[chromosome] = plan.shard_for(chromosome.decode("utf-8", "replace"))
            cells = [copy_text(cell) for cell in feature.cells]
            self.add(shards[chromosome], b"\t".join(cells) + b"\t%d\t%d\n" % (feature.number, rank))
            self.transcripts += 1

    def summary(self) -> str:
        spread = ", ".join(f"{name} {rows:,}" for name, rows in sorted(self.rows.items()))
        return f"loaded {self.transcripts:,} transcripts from {self.path} by chromosome ({spread or 'none'})"
