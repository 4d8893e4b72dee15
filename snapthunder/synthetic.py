"""Write a deterministic, GTEx-like Snaptron compilation calibrated to the paper.

The loaders, the API and the benchmark need a real `junctions.bgz` to work on,
but GTEx's is tens of gigabytes and cannot be part of a demo or a test. This
module writes a stand-in in the exact Snaptron format (docs/API.md lists the
columns): a bgzip-compressed, tabix-indexed, 17-column junction file, a
`samples.tsv` and its `samples.groups.tsv` (one group per tissue), and a
small genes table, `refseq_transcripts_by_hgvs.tsv`, whose genes lie where
the junctions are (synthetic_genes.py), for gene names in `regions=`, with
those genes' and their exons' coverage rows (`genes.bgz`, `exons.bgz`, for
/genes and /exons), and the same genes as GENCODE-like versioned ids and as
all_transcripts.gtf.bgz for /annotations (synthetic_annotations.py). This
module writes the junctions, placed by synthetic_positions.py, their
columns' texts drawn by synthetic_rows.py; synthetic_samples.py writes the
two samples tables.

Two properties make the stand-in useful rather than merely well-formed:

* Calibration (synthetic_positions.py). On chr1 the number of junctions with
  `end <= E` follows the paper's benchmark table, for all junctions and for
  those with `samples_count >= 100`, so the benchmark's windows return
  paper-sized result sets; elsewhere a flat background density fills the
  genome. `scale` multiplies every density.
* Realism where it matters for speed: heavy-tailed intron lengths and sample
  lists (a few percent of rows carry most of the bytes), canonical motifs in
  mixed case, annotation codes, shared donor sites, unsorted sample lists.

The same seed and arguments produce byte-identical files.
"""

import argparse
import contextlib
import dataclasses
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple, TextIO

import numpy
import pysam
from tqdm import tqdm

from snapthunder.layout import (ANNOTATIONS_FILE, EXON_ROWS_FILE, GENE_ROWS_FILE, GENES_FILE, GROUPS_FILE,
                                JUNCTIONS_FILE, SAMPLES_FILE)
from snapthunder.synthetic_annotations import write_annotation_files
from snapthunder.synthetic_genes import coverage_lines, transcripts, write_genes_table
from snapthunder.synthetic_positions import (GRCH38_SEQUENCE_LENGTHS, chromosome_segments, draw_junction_positions,
                                             share_positions)
from snapthunder.synthetic_rows import coverage_statistics, decimal_texts, draw_annotations, draw_motifs, row_texts
from snapthunder.synthetic_samples import write_sample_groups, write_samples_table

DEFAULT_SEED = 20180501
DEFAULT_SAMPLES = 9_700
DEFAULT_BACKGROUND_PER_MB = 300.0
MAXIMUM_SAMPLES = 1_000_000
# Snaptron's source_dataset_id of the compilation, and its first rail_id: several generated compilations
# served side by side take distinct ones (gtex 50099-59760, tcga from 59761 in recount2; SNAPTRON-WIRE.md §12).
SOURCE_DATASET_ID = 0
RAIL_ID_OFFSET = 0

MAXIMUM_READ_COUNT = 99_999
SAMPLE_PERMUTATION_POOL = 64
SORTED_SAMPLES_FRACTION = 0.5
CHUNK_ROWS = 20_000


class InvalidParameter(ValueError):
    """A generation argument is out of range; the message names it and the allowed range."""


@dataclasses.dataclass(frozen=True)
class GeneratedCompilation:
    """Where a generated compilation landed and how many junctions each sequence got."""

    junctions_path: Path
    index_path: Path
    samples_path: Path
    genes_path: Path
    row_count: int
    rows_per_chromosome: dict[str, int]
    gencode_path: Path
    annotations_path: Path


class GenerationTables(NamedTuple):
    """Per-run lookup tables that turn numbers into text without per-value Python work."""

    sample_total: int
    sample_tokens: numpy.ndarray
    read_count_texts: numpy.ndarray
    sample_permutations: numpy.ndarray
    source_dataset_id: int


def build_tables(random: numpy.random.Generator, sample_total: int, rail_id_offset: int = RAIL_ID_OFFSET,
                 source_dataset_id: int = SOURCE_DATASET_ID) -> GenerationTables:
    """Precompute the `,sid:` and count texts (rail_ids from `rail_id_offset`) and the pool of sample orders."""
    sample_tokens = numpy.array([f",{rail_id_offset + sid}:" for sid in range(sample_total)], dtype=object)
    read_count_texts = numpy.array([str(count) for count in range(MAXIMUM_READ_COUNT + 1)], dtype=object)
    permutations = numpy.stack([random.permutation(sample_total) for _ in range(SAMPLE_PERMUTATION_POOL)])
    return GenerationTables(sample_total, sample_tokens, read_count_texts, permutations.astype(numpy.int32),
                            source_dataset_id)


def draw_sample_entries(
    random: numpy.random.Generator, samples_counts: numpy.ndarray, tables: GenerationTables
) -> tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """Return (sample ids, read counts, row offsets) for a chunk of junctions.

    Each row reads a window of one of a pool of random sample orders, which
    gives distinct ids without a per-row draw; half of the rows are then
    sorted by id, since real compilations mix sorted and unsorted lists.
    Read counts are heavy-tailed, scaled by a per-junction expression that
    grows with how many samples express it.
    """
    rows = samples_counts.size
    offsets = numpy.zeros(rows + 1, dtype=numpy.int64)
    numpy.cumsum(samples_counts, out=offsets[1:])
    row_of_entry = numpy.repeat(numpy.arange(rows), samples_counts)
    position_in_row = numpy.arange(offsets[-1]) - offsets[row_of_entry]
    pool_index = random.integers(0, SAMPLE_PERMUTATION_POOL, rows)
    window_start = random.integers(0, tables.sample_total, rows)
    columns = (window_start[row_of_entry] + position_in_row) % tables.sample_total
    sample_ids = tables.sample_permutations[pool_index[row_of_entry], columns]
    sorted_rows = random.random(rows) < SORTED_SAMPLES_FRACTION
    within_row_key = numpy.where(sorted_rows[row_of_entry], sample_ids, position_in_row)
    sample_ids = sample_ids[numpy.lexsort((within_row_key, row_of_entry))]
    expression = random.lognormal(0.3, 0.8, rows) * (1.0 + numpy.log10(samples_counts))
    read_counts = 1 + numpy.floor(expression[row_of_entry] * random.pareto(2.0, offsets[-1]))
    read_counts = numpy.minimum(read_counts, MAXIMUM_READ_COUNT).astype(numpy.int64)
    return sample_ids, read_counts, offsets


def junction_lines(
    random: numpy.random.Generator,
    first_id: int,
    chromosome: str,
    starts: numpy.ndarray,
    ends: numpy.ndarray,
    samples_counts: numpy.ndarray,
    tables: GenerationTables,
    given_motifs: list[tuple | None] | None = None,
) -> list[str]:
    """Format a chunk of positioned junctions as complete 17-column lines.

    `given_motifs`: per row, the (strand, left_motif, right_motif) it takes
    from the compilation it shares the junction with, or None to keep its own.
    """
    rows = starts.size
    strands, left_motifs, right_motifs = draw_motifs(random, rows)
    for row, motifs in enumerate(given_motifs or ()):
        if motifs is not None:
            strands[row], left_motifs[row], right_motifs[row] = motifs
    annotated, left_annotated, right_annotated = draw_annotations(random, rows)
    sample_ids, read_counts, offsets = draw_sample_entries(random, samples_counts, tables)
    samples = row_texts((tables.sample_tokens[sample_ids] + tables.read_count_texts[read_counts]).tolist(), offsets)
    sums, medians = coverage_statistics(read_counts, offsets)
    averages = decimal_texts(sums / samples_counts)
    columns = zip(
        range(first_id, first_id + rows), starts.tolist(), ends.tolist(), (ends - starts + 1).tolist(),
        strands, annotated, left_motifs, right_motifs, left_annotated, right_annotated, samples,
        samples_counts.tolist(), sums.tolist(), averages, decimal_texts(medians),
    )
    return [
        f"{snaptron_id}\t{chromosome}\t{start}\t{end}\t{length}\t{strand}\t{is_annotated}\t{left_motif}\t"
        f"{right_motif}\t{left_codes}\t{right_codes}\t{sample_list}\t{count}\t{total}\t{average}\t{median}\t"
        f"{tables.source_dataset_id}\n"
        for (snaptron_id, start, end, length, strand, is_annotated, left_motif, right_motif, left_codes,
             right_codes, sample_list, count, total, average, median) in columns
    ]


def write_junction_table(
    handle: TextIO, random: numpy.random.Generator, scale: float, background_per_mb: float,
    tables: GenerationTables, progress: bool, shared_with: Path | None = None,
) -> dict[str, int]:
    """Stream every sequence's junctions, in text order of chromosome, to an open text file.

    Positions are held per chromosome (numbers only); lines are built and
    written per chunk so memory stays flat whatever the scale. With
    `shared_with` (another compilation's junctions.bgz), part of each
    chromosome's junctions take its coordinates (share_positions); its
    chromosome's coordinates and motifs are held meanwhile.
    """
    plans = {name: chromosome_segments(name, scale, background_per_mb) for name in sorted(GRCH38_SEQUENCE_LENGTHS)}
    planned_total = sum(segment.rows for segments in plans.values() for segment in segments)
    rows_per_chromosome = {}
    next_id = 0
    with tqdm(total=planned_total, unit="rows", disable=not progress, desc="junctions") as bar, \
            (pysam.TabixFile(str(shared_with)) if shared_with else contextlib.nullcontext()) as other:
        for chromosome, segments in plans.items():
            starts, ends, samples_counts = draw_junction_positions(random, segments, tables.sample_total)
            sources, other_motifs = None, []
            if shared_with is not None:
                other_starts, other_ends, other_motifs = _junctions_of(other, chromosome)
                starts, ends, samples_counts, sources = share_positions(random, starts, ends, samples_counts,
                                                                        other_starts, other_ends)
            for chunk_start in range(0, starts.size, CHUNK_ROWS):
                chunk = slice(chunk_start, chunk_start + CHUNK_ROWS)
                given = None if sources is None else [other_motifs[source] if source >= 0 else None
                                                      for source in sources[chunk].tolist()]
                lines = junction_lines(
                    random, next_id, chromosome, starts[chunk], ends[chunk], samples_counts[chunk], tables, given
                )
                handle.writelines(lines)
                next_id += len(lines)
                bar.update(len(lines))
            rows_per_chromosome[chromosome] = int(starts.size)
            bar.update(sum(segment.rows for segment in segments) - starts.size)
    return rows_per_chromosome


def _junctions_of(junctions: pysam.TabixFile, chromosome: str) -> tuple[numpy.ndarray, numpy.ndarray, list[tuple]]:
    """A generated compilation's junctions on `chromosome`: starts, ends and each one's (strand, left_motif,
    right_motif), the few distinct ones shared, so that a chromosome's worth stays small."""
    starts, ends, motifs, distinct = [], [], [], {}
    for line in junctions.fetch(chromosome) if chromosome in junctions.contigs else ():
        cells = line.split("\t", 9)
        starts.append(int(cells[2]))
        ends.append(int(cells[3]))
        motif = (cells[5], cells[7], cells[8])
        motifs.append(distinct.setdefault(motif, motif))
    return numpy.array(starts, dtype=numpy.int64), numpy.array(ends, dtype=numpy.int64), motifs


def write_compressed(path: Path, lines: list[str]) -> Path:
    """Write lines (in genome order) as a BGZF file with its tabix index, through a text file beside it."""
    descriptor, text_name = tempfile.mkstemp(prefix=path.name + ".", suffix=".tsv", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii", newline="\n") as handle:
            handle.writelines(lines)
        return compress_and_index(Path(text_name), path)
    finally:
        Path(text_name).unlink(missing_ok=True)


def compress_and_index(text_path: Path, junctions_path: Path) -> Path:
    """BGZF-compress the sorted text and tabix-index it on chromosome, start, end (1-based)."""
    pysam.tabix_compress(str(text_path), str(junctions_path), force=True)
    pysam.tabix_index(str(junctions_path), force=True, seq_col=1, start_col=2, end_col=3, zerobased=False)
    return Path(f"{junctions_path}.tbi")


def check_parameters(scale: float, seed: int, samples: int, background_per_mb: float) -> None:
    """Refuse arguments that cannot give a meaningful compilation, naming the allowed range."""
    if not (math.isfinite(scale) and scale > 0):
        raise InvalidParameter(f"scale must be a positive number, got {scale}")
    if seed < 0:
        raise InvalidParameter(f"seed must be >= 0, got {seed}")
    if not 1 <= samples <= MAXIMUM_SAMPLES:
        raise InvalidParameter(f"samples must be between 1 and {MAXIMUM_SAMPLES:,}, got {samples}")
    if not (math.isfinite(background_per_mb) and background_per_mb >= 0):
        raise InvalidParameter(f"background_per_mb must be >= 0, got {background_per_mb}")


def generate(
    out_dir,
    scale: float = 1.0,
    seed: int = DEFAULT_SEED,
    samples: int = DEFAULT_SAMPLES,
    background_per_mb: float = DEFAULT_BACKGROUND_PER_MB,
    progress: bool = False,
    rail_id_offset: int = RAIL_ID_OFFSET,
    source_dataset_id: int = SOURCE_DATASET_ID,
    shared_with: Path | None = None,
) -> GeneratedCompilation:
    """Write junctions.bgz(.tbi), samples.tsv, samples.groups.tsv, the gene tables and genes/exons.bgz into out_dir.

    The samples are rail_ids `rail_id_offset` … `rail_id_offset + samples - 1`
    and every junction carries `source_dataset_id`: what sets two generated
    compilations apart when a client unites them (SNAPTRON-WIRE.md §13).

    Junctions, samples and genes draw from independent streams of one seed, so
    the samples and genes tables do not change with scale or background density.
    `shared_with`, another generated compilation's junctions.bgz, makes up to
    half of each chromosome's junctions take its coordinates, strand and
    motifs, as the compilations of one genome share junctions (the demo
    unites gtex and a TCGA-like one).
    """
    check_parameters(scale, seed, samples, background_per_mb)
    if shared_with is not None and not (Path(shared_with).is_file() and Path(f"{shared_with}.tbi").is_file()):
        raise InvalidParameter(f"shared_with {shared_with}: no junctions.bgz with its .tbi index there "
                               "(give a generated compilation's junctions.bgz)")
    if rail_id_offset < 0 or source_dataset_id < 0:
        raise InvalidParameter(f"rail_id_offset and source_dataset_id must be >= 0, got {rail_id_offset} "
                               f"and {source_dataset_id}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    junction_seed, samples_seed, genes_seed = numpy.random.SeedSequence(seed).spawn(3)
    junction_random = numpy.random.default_rng(junction_seed)
    junctions_path = out_dir / JUNCTIONS_FILE
    descriptor, text_name = tempfile.mkstemp(prefix="junctions.", suffix=".tsv", dir=out_dir)
    text_path = Path(text_name)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii", newline="\n", buffering=1 << 20) as handle:
            tables = build_tables(junction_random, samples, rail_id_offset, source_dataset_id)
            rows_per_chromosome = write_junction_table(
                handle, junction_random, scale, background_per_mb, tables, progress, shared_with
            )
        if progress:
            print("compressing (bgzip) and indexing (tabix)...", file=sys.stderr)
        index_path = compress_and_index(text_path, junctions_path)
    finally:
        text_path.unlink(missing_ok=True)
    samples_path = out_dir / SAMPLES_FILE
    write_samples_table(samples_path, numpy.random.default_rng(samples_seed), samples, rail_id_offset)
    write_sample_groups(out_dir / GROUPS_FILE, samples_path)
    genes_path = out_dir / GENES_FILE
    genes_random = numpy.random.default_rng(genes_seed)
    table = list(transcripts(genes_random))
    write_genes_table(genes_path, table)
    for name, lines in zip((GENE_ROWS_FILE, EXON_ROWS_FILE), coverage_lines(table, genes_random, samples,
                                                                                       rail_id_offset, source_dataset_id)):
        write_compressed(out_dir / name, lines)
    gencode_path, annotations_path = write_annotation_files(out_dir, table)
    return GeneratedCompilation(
        junctions_path, index_path, samples_path, genes_path, sum(rows_per_chromosome.values()), rows_per_chromosome,
        gencode_path, annotations_path
    )


def build_parser() -> argparse.ArgumentParser:
    """Describe the command line; defaults come from the module constants."""
    parser = argparse.ArgumentParser(
        prog="python -m snapthunder.synthetic",
        description="Write a deterministic GTEx-like Snaptron compilation calibrated to the paper's chr1 counts.",
    )
    parser.add_argument(
        "--out", required=True, type=Path,
        help=f"directory to write junctions.bgz(.tbi), samples.tsv, samples.groups.tsv, {GENES_FILE}, {GENE_ROWS_FILE}, "
             f"{EXON_ROWS_FILE}, "
             f"a GENCODE-like GFF3 and {ANNOTATIONS_FILE} into"
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiplies every junction density (default 1: ~1.5 M rows)"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    parser.add_argument(
        "--samples", type=int, default=DEFAULT_SAMPLES, help=f"number of samples (default {DEFAULT_SAMPLES})"
    )
    parser.add_argument(
        "--background-per-mb", type=float, default=DEFAULT_BACKGROUND_PER_MB,
        help=f"junctions per Mb outside chr1:1-25,000,000 at scale 1 (default {DEFAULT_BACKGROUND_PER_MB:g})",
    )
    parser.add_argument("--rail-id-offset", type=int, default=RAIL_ID_OFFSET,
                        help="first rail_id (default 0): give each compilation served together its own range")
    parser.add_argument("--source-dataset-id", type=int, default=SOURCE_DATASET_ID,
                        help=f"the junctions' source_dataset_id column (default {SOURCE_DATASET_ID})")
    parser.add_argument("--shared-with", type=Path, metavar="JUNCTIONS_BGZ",
                        help="another generated compilation's junctions.bgz: up to half of each chromosome's "
                             "junctions take its coordinates, strand and motifs, so that the two share junctions")
    parser.add_argument("--quiet", action="store_true", help="no progress bar (shown by default on a terminal)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the generator from the command line: 0 on success, 2 for usage errors, 1 for I/O errors."""
    parser = build_parser()
    try:
        arguments = parser.parse_args(argv)
    except SystemExit as exit_request:
        return int(exit_request.code or 0)
    try:
        compilation = generate(
            arguments.out, scale=arguments.scale, seed=arguments.seed, samples=arguments.samples,
            background_per_mb=arguments.background_per_mb,
            progress=not arguments.quiet and sys.stderr.isatty(),
            rail_id_offset=arguments.rail_id_offset, source_dataset_id=arguments.source_dataset_id,
            shared_with=arguments.shared_with,
        )
    except InvalidParameter as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"{parser.prog}: error: cannot write the compilation: {error}", file=sys.stderr)
        return 1
    print(f"wrote {compilation.row_count:,} junctions to {compilation.junctions_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
