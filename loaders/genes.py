"""Loading the genome's RefSeq transcripts (`--genes refseq_transcripts_by_hgvs.tsv`) into every shard.

Snaptron resolves a gene name in `regions=` through this file, UCSC's
refFlat layout: column 1 the symbol, 3 the chromosome, 5 txStart (0-based),
6 txEnd. It belongs to the genome, not to one compilation (Snaptron links
the same file into every human compilation), so it is given on its own and
kept until a load gives it again; a load with `--genes` replaces it, in the
load's transaction on every shard, with the junctions and samples
(two_phase.py).

The file is streamed into COPY as (symbol upper-cased, chromosome, 1-based
start, end, line number): the line keeps the file's order, which Snaptron's
merging of a symbol's transcripts into loci depends on (the API merges them,
snapthunder/gene_loci.py). Lines on chromosomes Snaptron does not take as
interval names (alt and unplaced contigs: `chr6_GL000250v2_alt`) are skipped
and counted, as Snaptron skips them; a line that is not a transcript goes
to `./<file>.rejects.tsv` with its line number and the reason.
"""

from __future__ import annotations

import re
from typing import Iterator

import psycopg2

from loaders.rejects import RejectsFile, default_rejects_path
from loaders.samples import CopyStream
from loaders.shard_writer import ShardLoadError, describe_error
from loaders.source import Source
from loaders.two_phase import Participant
from snapthunder.gene_loci import GENE_CHROMOSOME
from snapthunder.query import GENE_SYMBOL, MAX_COORDINATE

COLUMNS = 6          # refFlat has 11; Snaptron reads the first 6
_COORDINATE = re.compile(rb"\d{1,10}")


class GenesFile:
    """A refFlat file, copied into one shard at a time; the first copy notes rejects and counts."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.rejects = RejectsFile(default_rejects_path(path))
        self.transcripts: int | None = None
        self.skipped = 0

    def write(self, participant: Participant) -> None:
        """Replace the shard's transcripts inside its load transaction; sets `transcripts`."""
        try:
            with participant.connection.cursor() as cursor:
                cursor.execute("TRUNCATE gene_transcript")
                stream = CopyStream(self._rows(first=self.transcripts is None))
                cursor.copy_expert('COPY gene_transcript (symbol, chromosome, start, "end", line) FROM STDIN', stream)
        except psycopg2.Error as error:
            raise ShardLoadError(f"{participant.shard.describe()}: loading {self.path}: {describe_error(error)}; "
                                 "nothing changed") from None
        self.transcripts = stream.rows

    def close(self) -> None:
        self.rejects.close()

    def _rows(self, first: bool) -> Iterator[bytes]:
        with Source(self.path) as source:
            for number, raw in enumerate(source.lines, 1):
                cells = raw.rstrip(b"\r\n").split(b"\t")
                reason = _problem(cells)
                if reason is not None:
                    if first:
                        self.rejects.add(number, f"genes: {reason}", raw)
                    continue
                symbol, chromosome, start, end = cells[0].upper(), cells[2], int(cells[4]) + 1, int(cells[5])
                if not GENE_CHROMOSOME.fullmatch(chromosome.decode("utf-8", "replace")):
                    if first:
                        self.skipped += 1
                    continue
                yield b"%s\t%s\t%d\t%d\t%d\n" % (symbol, chromosome, start, end, number)


def _problem(cells: list[bytes]) -> str | None:
    if len(cells) < COLUMNS:
        return f"{len(cells)} columns; refFlat has 11 (symbol, name, chromosome, strand, txStart, txEnd, …)"
    if not GENE_SYMBOL.fullmatch(cells[0].decode("utf-8", "replace")):
        return f"gene symbol {cells[0][:40].decode('utf-8', 'replace')!r} is not letters, digits and . _ - @"
    for column, cell in ((5, cells[4]), (6, cells[5])):
        if not _COORDINATE.fullmatch(cell) or int(cell) > MAX_COORDINATE:
            return f"column {column} is {cell[:20].decode('utf-8', 'replace')!r}, expected a coordinate"
    if int(cells[4]) >= int(cells[5]):
        return f"txStart {int(cells[4]):,} is not before txEnd {int(cells[5]):,}"
    return None
