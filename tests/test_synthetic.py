"""Tests of the synthetic compilation generator on real files: format, determinism, BGZF, calibration."""

import gzip
import re
import statistics

import numpy
import pysam
import pytest

from loaders.directory import read_directory
from loaders.gencode import GencodeFile
from loaders.genes import GenesFile
from loaders.transcripts import TranscriptsFile
from snapthunder import junctions, synthetic, synthetic_genes, synthetic_positions, synthetic_samples
from snapthunder.gene_loci import loci
from snapthunder.layout import EXON_ROWS_FILE, GENE_ROWS_FILE
from snapthunder.plan import plan_shards

SMALL_SCALE = 0.02
TINY_SCALE = 0.005
DECIMAL_TEXT = re.compile(r"^\d+\.(0|\d{0,2}[1-9])$")
PAPER_WINDOWS = [point.window_end for point in synthetic_positions.PAPER_CHR1_COUNTS[1:]]
INTERPOLATED_WINDOWS = [7_500_000, 12_500_000, 17_500_000, 22_500_000]


def read_rows(path):
    """Split every line of a junctions.bgz into its fields."""
    with gzip.open(path, "rt") as handle:
        return [line.rstrip("\n").split("\t") for line in handle]


def decompressed(path):
    """The junction file's content, whatever its BGZF block boundaries."""
    with gzip.open(path, "rb") as handle:
        return handle.read()


def parse_samples(text):
    """Turn `,sid:count,...` into [(sid, count)]; the leading comma is mandatory."""
    assert text.startswith(",")
    return [tuple(int(part) for part in entry.split(":")) for entry in text[1:].split(",")]


def read_summaries(path):
    """(chromosome, start, end, samples_count) of every line, without keeping the wide columns."""
    with gzip.open(path, "rt") as handle:
        return [summary(line.split("\t", 13)) for line in handle]


def summary(row):
    return row[1], int(row[2]), int(row[3]), int(row[12])


def chr1_counts(summaries, window_end):
    """The paper's simple and filter counts: start <= E AND end <= E, and samples_count >= 100."""
    window = [
        samples_count for chromosome, start, end, samples_count in summaries
        if chromosome == "chr1" and start <= window_end and end <= window_end
    ]
    return len(window), sum(1 for samples_count in window if samples_count >= synthetic_positions.FILTER_MINIMUM_SAMPLES)


@pytest.fixture(scope="module")
def small_compilation(tmp_path_factory):
    compilation = synthetic.generate(tmp_path_factory.mktemp("small"), scale=SMALL_SCALE)
    return compilation, read_rows(compilation.junctions_path)


def test_same_seed_gives_identical_files_and_progress_does_not_change_them(tmp_path):
    first = synthetic.generate(tmp_path / "first", scale=TINY_SCALE, seed=7)
    second = synthetic.generate(tmp_path / "second", scale=TINY_SCALE, seed=7, progress=True)
    assert decompressed(first.junctions_path) == decompressed(second.junctions_path)
    assert first.samples_path.read_bytes() == second.samples_path.read_bytes()
    assert first.genes_path.read_bytes() == second.genes_path.read_bytes()
    for name in (GENE_ROWS_FILE, EXON_ROWS_FILE):
        assert decompressed(first.junctions_path.parent / name) == decompressed(second.junctions_path.parent / name)
    assert first.rows_per_chromosome == second.rows_per_chromosome
    names = sorted(path.name for path in first.junctions_path.parent.iterdir())
    assert names == sorted(path.name for path in second.junctions_path.parent.iterdir())
    assert [name for name in names if (first.junctions_path.parent / name).read_bytes()
            != (second.junctions_path.parent / name).read_bytes()] == []
    assert first.gencode_path.read_bytes()[4:8] == bytes(4), "gzip's header must not hold the time of writing"


def test_different_seed_gives_different_junctions(tmp_path):
    first = synthetic.generate(tmp_path / "first", scale=TINY_SCALE, seed=7)
    other = synthetic.generate(tmp_path / "other", scale=TINY_SCALE, seed=8)
    assert decompressed(first.junctions_path) != decompressed(other.junctions_path)


def test_every_row_is_a_consistent_snaptron_junction(small_compilation):
    compilation, rows = small_compilation
    for row in rows:
        assert len(row) == 17
        assert junctions.check("\t".join(row).encode()) == row[1].encode()
        start, end, length = int(row[2]), int(row[3]), int(row[4])
        assert 1 <= start <= end <= synthetic_positions.GRCH38_SEQUENCE_LENGTHS[row[1]]
        assert length == end - start + 1
        assert row[5] in {"+", "-", "?"} and row[6] in {"0", "1"}
        entries = parse_samples(row[11])
        counts = [count for _, count in entries]
        assert len({sid for sid, _ in entries}) == len(entries) == int(row[12])
        assert min(counts) >= 1 and sum(counts) == int(row[13])
        assert DECIMAL_TEXT.match(row[14]) and DECIMAL_TEXT.match(row[15])
        assert float(row[14]) == pytest.approx(sum(counts) / len(counts), abs=0.0005 + 1e-9)
        assert float(row[15]) == statistics.median(counts)
        assert row[16] == str(synthetic.SOURCE_DATASET_ID)


def test_rows_are_sorted_by_text_chromosome_then_start_then_end_with_unique_ids(small_compilation):
    compilation, rows = small_compilation
    keys = [(row[1], int(row[2]), int(row[3])) for row in rows]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    assert len({row[0] for row in rows}) == len(rows) == compilation.row_count


def test_every_sequence_has_rows_and_the_reported_counts_match(small_compilation):
    compilation, rows = small_compilation
    file_counts = {}
    for row in rows:
        file_counts[row[1]] = file_counts.get(row[1], 0) + 1
    assert file_counts == compilation.rows_per_chromosome
    assert set(file_counts) == set(synthetic_positions.GRCH38_SEQUENCE_LENGTHS)


def test_every_sample_id_is_described_in_samples_tsv(small_compilation):
    compilation, rows = small_compilation
    lines = compilation.samples_path.read_text().splitlines()
    assert lines[0].split("\t")[0] == "rail_id"
    rail_ids = [int(line.split("\t")[0]) for line in lines[1:]]
    assert rail_ids == list(range(synthetic.DEFAULT_SAMPLES))
    assert all(len(line.split("\t")) == len(synthetic_samples.SAMPLES_HEADER) for line in lines)
    used = {sid for row in rows for sid, _ in parse_samples(row[11])}
    assert used <= set(rail_ids)


def test_tabix_region_query_returns_the_rows_a_scan_finds(small_compilation):
    compilation, rows = small_compilation
    region_start, region_end = 1_000_001, 1_400_000
    expected = [
        "\t".join(row) for row in rows
        if row[1] == "chr1" and int(row[3]) >= region_start and int(row[2]) <= region_end
    ]
    with pysam.TabixFile(str(compilation.junctions_path)) as tabix:
        fetched = list(tabix.fetch("chr1", region_start - 1, region_end))
        mitochondrial = list(tabix.fetch("chrM"))
    assert expected and fetched == expected
    assert len(mitochondrial) == compilation.rows_per_chromosome["chrM"]


def test_the_genes_table_loads_as_refflat_and_its_genes_hold_junctions(small_compilation, tmp_path, monkeypatch):
    compilation, rows = small_compilation
    monkeypatch.chdir(tmp_path)
    genes = GenesFile(str(compilation.genes_path))
    lines = list(genes._rows(first=True))      # what the loader would COPY into every shard
    genes.close()
    assert genes.rejects.count == 0 and genes.skipped == 0
    by_symbol: dict[str, list[tuple[str, int, int]]] = {}
    for line in lines:
        symbol, chromosome, start, end, _ = line.decode().split("\t")
        by_symbol.setdefault(symbol, []).append((chromosome, int(start), int(end)))
    assert len(by_symbol) == synthetic_genes.GENE_COUNT + 1
    assert len(loci(by_symbol.pop(synthetic_genes.MULTI_LOCUS_SYMBOL))) == 3
    assert all(len(loci(spans)) == 1 for spans in by_symbol.values())
    starts = numpy.array(sorted(int(row[2]) for row in rows if row[1] == "chr1"))
    holding = [span for (span,) in map(loci, by_symbol.values())
               if numpy.searchsorted(starts, span.end, "right") > numpy.searchsorted(starts, span.start)]
    assert len(holding) >= 0.95 * len(by_symbol), f"{len(holding)} of {len(by_symbol)} genes hold a junction start"


def test_small_scale_matches_the_paper_counts_times_scale(small_compilation):
    _, rows = small_compilation
    for window_end in PAPER_WINDOWS + INTERPOLATED_WINDOWS:
        simple, filtered = chr1_counts([summary(row) for row in rows], window_end)
        expected_simple, expected_filtered = synthetic_positions.expected_chr1_counts(window_end, SMALL_SCALE)
        assert simple == pytest.approx(expected_simple, rel=0.10)
        assert filtered == pytest.approx(expected_filtered, rel=0.10, abs=3)


def test_columns_look_like_gtex(small_compilation):
    _, rows = small_compilation
    lengths = [int(row[4]) for row in rows]
    assert max(lengths) < 1_000_000
    assert sum(100 <= length <= 10_000 for length in lengths) / len(rows) > 0.8
    annotated = [row for row in rows if row[6] == "1"]
    assert 0.25 < len(annotated) / len(rows) < 0.35
    assert all(row[9] != "0" and row[10] != "0" for row in annotated)
    assert 0.45 < sum(row[5] == "+" for row in rows) / len(rows) < 0.55
    assert 0.05 < sum(row[7].islower() for row in rows) / len(rows) < 0.15
    assert 0.03 < sum(int(row[12]) >= 100 for row in rows) / len(rows) < 0.04
    sample_lists = [[sid for sid, _ in parse_samples(row[11])] for row in rows if int(row[12]) > 5]
    assert any(sids == sorted(sids) for sids in sample_lists)
    assert any(sids != sorted(sids) for sids in sample_lists)
    starts = [(row[1], row[2]) for row in rows]
    assert len(set(starts)) < len(starts)


def test_few_samples_still_give_distinct_valid_sample_ids(tmp_path):
    compilation = synthetic.generate(tmp_path, scale=TINY_SCALE, samples=50)
    for row in read_rows(compilation.junctions_path):
        sids = [sid for sid, _ in parse_samples(row[11])]
        assert len(set(sids)) == len(sids) <= 50
        assert all(0 <= sid < 50 for sid in sids)


def test_the_annotation_files_load_and_describe_the_genes_tables_genes(small_compilation, tmp_path):
    compilation, _ = small_compilation
    directory = read_directory(compilation.junctions_path.parent)
    assert (directory.gencode, directory.annotations) == (compilation.gencode_path, compilation.annotations_path)
    assert not any(path.name.endswith((".gff3.gz", ".gtf.bgz")) for path, _ in directory.skipped)
    gencode = GencodeFile(str(compilation.gencode_path))           # checked and spooled as the loader does
    transcripts = TranscriptsFile(str(compilation.annotations_path), plan_shards(2))
    assert gencode.genes == synthetic_genes.GENE_COUNT + 3           # the multi-locus symbol: one gene per locus
    refflat = [line.split("\t") for line in compilation.genes_path.read_text().splitlines()]
    with gzip.open(compilation.gencode_path, "rt") as handle:
        genes = [line.split("\t") for line in handle if "\tgene\t" in line]
    spans = {re.search("gene_name=([^;]+)", row[8]).group(1): [] for row in genes}
    for row in genes:
        spans[re.search("gene_name=([^;]+)", row[8]).group(1)].append((row[0], int(row[3]), int(row[4])))
    for row in refflat:             # every RefSeq transcript lies in a gene of its symbol
        assert any(chromosome == row[2] and start <= int(row[4]) + 1 and int(row[5]) <= end
                   for chromosome, start, end in spans[row[0]]), row
    with gzip.open(compilation.annotations_path, "rt") as handle:
        rows = [line.split("\t") for line in handle]
    assert transcripts.transcripts == len(rows) and rows == sorted(rows, key=lambda row: (row[0], int(row[3])))
    assert all(any(chromosome == row[0] and start <= int(row[3]) and int(row[4]) <= end
                   for gene_spans in spans.values() for chromosome, start, end in gene_spans) for row in rows)
    gencode.close()
    transcripts.close()


def test_command_line_writes_the_files(tmp_path):
    assert synthetic.main(["--out", str(tmp_path), "--scale", "0.002", "--seed", "3", "--quiet"]) == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "all_transcripts.gtf.bgz", "exons.bgz", "exons.bgz.tbi", "gencode.vS1.annotation.gff3.gz", "genes.bgz",
        "genes.bgz.tbi", "junctions.bgz", "junctions.bgz.tbi",
        "refseq_transcripts_by_hgvs.tsv", "samples.groups.tsv", "samples.tsv"]


def test_command_line_without_out_is_a_usage_error():
    assert synthetic.main(["--scale", "0.002"]) == 2


@pytest.mark.parametrize(
    "arguments",
    [["--scale", "0"], ["--scale", "many"], ["--samples", "0"], ["--seed", "-1"], ["--background-per-mb", "-5"]],
)
def test_command_line_bad_values_are_usage_errors(tmp_path, arguments):
    assert synthetic.main(["--out", str(tmp_path), *arguments]) == 2


def test_command_line_io_error_exits_1(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert synthetic.main(["--out", str(blocker), "--scale", "0.002", "--quiet"]) == 1


@pytest.mark.slow
def test_full_scale_matches_the_paper(tmp_path):
    compilation = synthetic.generate(tmp_path, scale=1.0)
    summaries = read_summaries(compilation.junctions_path)
    assert 1_300_000 <= compilation.row_count == len(summaries) <= 1_800_000
    for point in synthetic_positions.PAPER_CHR1_COUNTS[1:]:
        simple, filtered = chr1_counts(summaries, point.window_end)
        assert simple == pytest.approx(point.simple_rows, rel=0.05)
        assert filtered == pytest.approx(point.filter_rows, rel=0.10)
    samples_counts = [samples_count for *_, samples_count in summaries]
    assert 0.03 < sum(count >= 100 for count in samples_counts) / len(summaries) < 0.04
    assert any(count >= 0.9 * synthetic.DEFAULT_SAMPLES for count in samples_counts)


def test_gene_and_exon_rows_are_snaptrons_form_over_the_genes_table(small_compilation):
    compilation, _ = small_compilation
    directory = compilation.junctions_path.parent
    genes, exons = (read_rows(directory / name) for name in (GENE_ROWS_FILE, EXON_ROWS_FILE))
    symbols = [row[10].split(":")[1] for row in genes]
    assert len(genes) == synthetic_genes.GENE_COUNT + 3 and symbols.count(synthetic_genes.MULTI_LOCUS_SYMBOL) == 3
    for rows, format_check in ((genes, "coverage"), (exons, "coverage")):
        for row in rows:
            assert junctions.check("\t".join(row).encode(), format_check) == row[1].encode()
            assert row[6:9] == ["", "", ""] and re.fullmatch(r"ENSG\d{11}\.1:SYNG\w+:protein_coding:\d+", row[10])
            counts = [count for _, count in parse_samples(row[11])] if row[11] else []
            assert int(row[13]) == sum(counts) and row[14] == f"{sum(counts) / max(len(counts), 1):.3f}"
            assert row[15] == f"{statistics.median(counts) if counts else 0:.3f}"
        keys = [(row[1].encode(), int(row[2]), int(row[3])) for row in rows]
        assert keys == sorted(keys)                                   # genome order, for tabix
        assert sorted(int(row[0]) for row in rows) == list(range(len(rows)))
        assert [int(row[0]) for row in rows] != list(range(len(rows)))     # ids in gene order, not genome order
    assert all(row[9].isdigit() for row in genes) and all(row[9] == "" for row in exons)
    spans = {row[10]: (row[1], int(row[2]), int(row[3])) for row in genes}
    assert all(spans[row[10]][0] == row[1] and spans[row[10]][1] <= int(row[2]) <= int(row[3]) <= spans[row[10]][2]
               for row in exons)
    with pysam.TabixFile(str(directory / GENE_ROWS_FILE)) as tabix:
        assert len(list(tabix.fetch("chr2"))) == 1                    # SYNGM's locus on chr2


def test_a_rail_id_offset_and_source_dataset_id_set_a_compilation_apart_from_another(tmp_path):
    """Two compilations served together take disjoint rail_ids, as Snaptron's gtex and tcga do (§12, §13)."""
    offset = 59_761
    compilation = synthetic.generate(tmp_path, scale=TINY_SCALE, samples=50, rail_id_offset=offset,
                                     source_dataset_id=4)
    rows = read_rows(compilation.junctions_path)
    assert rows and {row[16] for row in rows} == {"4"}
    sids = {sid for row in rows for sid, _ in parse_samples(row[11])}
    assert sids <= set(range(offset, offset + 50))
    described = [int(line.split("\t", 1)[0]) for line in compilation.samples_path.read_text().splitlines()[1:]]
    assert described == list(range(offset, offset + 50))
    grouped = {int(rail_id) for line in (tmp_path / "samples.groups.tsv").read_text().splitlines()[1:]
               for rail_id in line.split("\t")[3].split(",")}
    assert grouped == set(described)
    for name in (GENE_ROWS_FILE, EXON_ROWS_FILE):                     # the gene and exon rows too
        coverage = read_rows(tmp_path / name)
        assert coverage and {row[16] for row in coverage} == {"4"}
        assert {sid for row in coverage if row[11] for sid, _ in parse_samples(row[11])} <= set(range(offset, offset + 50))


def test_a_compilation_generated_beside_another_shares_half_of_its_junctions(tmp_path):
    """shared_with: half of each chromosome's junctions take the other's coordinates; the rest stay its own."""
    first = synthetic.generate(tmp_path / "first", scale=TINY_SCALE, seed=7)
    beside = synthetic.generate(tmp_path / "beside", scale=TINY_SCALE, seed=8, samples=300, rail_id_offset=59_761,
                                shared_with=first.junctions_path)
    alone = synthetic.generate(tmp_path / "alone", scale=TINY_SCALE, seed=8, samples=300, rail_id_offset=59_761)

    def junctions(compilation) -> dict[tuple, tuple]:
        """(chromosome, start, end) → (strand, left_motif, right_motif)."""
        lines = decompressed(compilation.junctions_path).decode().splitlines()
        return {tuple(cells[1:4]): (cells[5], cells[7], cells[8]) for cells in (line.split("\t") for line in lines)}

    theirs, shared = junctions(first), junctions(beside)
    both = shared.keys() & theirs.keys()
    assert 0.4 < len(both) / len(shared) < 0.6
    assert all(shared[key] == theirs[key] for key in both)     # same strand and motifs: a client merges them
    assert len(junctions(alone).keys() & theirs.keys()) < 0.05 * len(shared)
    assert synthetic.main(["--out", str(tmp_path / "nowhere"), "--shared-with", str(tmp_path / "none.bgz"),
                           "--quiet"]) == 2
