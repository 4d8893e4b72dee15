"""GENCODE gene ids in `regions=` and `/annotations` (SNAPTRON-WIRE.md §4 item 2b, §11), on real shards and the real API.

The generated compilation directory (its GFF3 and all_transcripts.gtf.bgz
describe the genes of its RefSeq table) is loaded whole into the API's
shards. Answers are checked against a plain-Python reading of the same
files, written from the spec here: no SQL and nothing of the loader or the
endpoint beyond the query parser. Loads with a bad line in either file must
fail naming the file and line and change nothing; loading twice changes
nothing either.
"""

from __future__ import annotations

import dataclasses
import gzip
import re
from pathlib import Path

import httpx
import pysam
import pytest

from loaders.cli import main as load
from snapthunder import query as query_language
from snapthunder.gene_loci import loci
from snapthunder.layout import ANNOTATIONS_FILE, GENES_FILE
from snapthunder.query import Region
from snapthunder.synthetic_annotations import GENCODE_FILE
from snapthunder.synthetic_genes import gene_id

pytest.register_assert_rewrite("tests.api_fixtures")
from tests.api_fixtures import COMPILATION  # noqa: E402 (registered first)
from tests.conftest import emptied_by_hand, query_all_shards  # noqa: E402

pytest_plugins = ["tests.api_fixtures"]

HEADER = ("DataSource:Type\treference\tannotation_source\tfeature_type\tstart\tend\tscore\tstrand\tunused\t"
          "attributes\n")
TABLES = "SELECT (SELECT count(*) FROM gencode_gene), (SELECT count(*) FROM annotation_transcript)"


@dataclasses.dataclass(frozen=True)
class Annotated:
    http: httpx.Client
    directory: Path
    outputs: str
    scratch: Path
    transcripts: list[list[str]]          # all_transcripts.gtf.bgz, cells per line, file order
    genes: dict[str, Region]              # the GFF3's gene features by id
    symbols: dict[str, list[Region]]      # the RefSeq table's loci by symbol


@pytest.fixture(scope="module")
def annotated(api_environment, api_dataset, tmp_path_factory):
    directory = api_dataset.junctions_path.parent
    scratch = tmp_path_factory.mktemp("annotations")
    outputs = str(api_environment.extra["outputs"])
    assert load([str(directory), "--outputs", outputs, "--quiet", "--rejects", str(scratch / "rejects.tsv")]) == 0
    with gzip.open(directory / ANNOTATIONS_FILE, "rt") as handle:
        transcripts = [line.rstrip("\n").split("\t") for line in handle]
    with gzip.open(directory / GENCODE_FILE, "rt") as handle:
        cells = [line.split("\t") for line in handle if not line.startswith("#")]
    genes = {re.search(r"gene_id=([^;\n]+)", row[8]).group(1): Region(row[0], int(row[3]), int(row[4]))
             for row in cells if row[2] == "gene"}
    by_symbol: dict[str, list[tuple[str, int, int]]] = {}
    for line in (directory / GENES_FILE).read_text().splitlines():
        row = line.split("\t")
        by_symbol.setdefault(row[0], []).append((row[2], int(row[4]) + 1, int(row[5])))
    symbols = {symbol: loci(rows) for symbol, rows in by_symbol.items()}
    with httpx.Client(base_url=api_environment.api_url, timeout=60) as client:
        yield Annotated(client, directory, outputs, scratch, transcripts, genes, symbols)
    # Other modules expect no gene names, annotations, gene rows.
    emptied_by_hand(api_environment, "gene_transcript, gencode_gene, annotation_transcript, "
                                     "gene, gene_chromosome_stats, exon, exon_chromosome_stats")


# The spec, read plainly ------------------------------------------------------------------------------------------

def _takes(cells: list[str], region: Region, mode: str) -> bool:
    start, end = int(cells[3]), int(cells[4])
    return cells[0] == region.chromosome and start <= region.end and end >= region.start and {
        "overlap": True, "contains": start >= region.start and end <= region.end,
        "exact": start == region.start and end == region.end}[mode]


def _rank(cells: list[str]) -> int:
    exons = re.search(r'exons "([^"]*)"', cells[8]).group(1).rstrip(",").split(",")
    cds = re.search(r'cds_span "(\d+)-(\d+)"', cells[8])
    return len(exons) + (100_000 if cds and int(cds.group(1)) > 0 else 0)


def expected_annotations(rows: list[list[str]], items: list[tuple[bool, list[Region], str]], limit: int = 20) -> str:
    """§11: intervals all rows in file order, each after a header; gene loci ranked, limited, one header at first."""
    lines, header_on = [], True
    for is_gene, regions, mode in items:
        if not is_gene:
            lines += [HEADER] if header_on else []
            lines += ["Mixed:G\t" + "\t".join(cells) + "\n" for cells in rows if _takes(cells, regions[0], mode)]
            continue
        for number, region in enumerate(regions):
            lines += [HEADER] if header_on and number == 0 else []
            taken = sorted((cells for cells in rows if _takes(cells, region, mode)), key=_rank, reverse=True)
            lines += ["Mixed:G\t" + "\t".join(cells[:5] + [str(_rank(cells))] + cells[6:]) + "\n"
                      for cells in taken[:limit]]
        header_on = False
    return "".join(lines)


def _junction_answer(reference, text: str, spans: dict[str, Region]) -> str:
    """The reference's /snaptron answer to `text`, its gene ids given as their spans (exact=1 as parsed)."""
    query = query_language.parse(query_language.split_query_string(text), 10_000)
    query = dataclasses.replace(query, selections=tuple(
        dataclasses.replace(selection, regions=selection.regions + tuple(spans[gene] for gene in selection.genes),
                            genes=()) for selection in query.selections))
    return "".join(line + "\n" for line in ["\t".join(query.output_columns)] + reference.lines(query))


# The loaded directory ---------------------------------------------------------------------------------------------

def test_a_compilation_directory_loads_its_gencode_genes_everywhere_and_its_transcripts_by_chromosome(
        annotated, api_environment):
    plan = api_environment.plan()
    held = query_all_shards(api_environment, TABLES)
    assert {name: rows[0] for name, rows in held.items()} == {
        name: (len(annotated.genes), sum(plan.shard_for(cells[0]) == name for cells in annotated.transcripts))
        for name in api_environment.shards}
    assert sum(rows[0][1] for rows in held.values()) == len(annotated.transcripts) > 1000


def test_a_versioned_gene_id_is_its_genes_span_and_makes_it_and_later_items_exact(annotated, api_dataset):
    reference = api_dataset.reference
    identifier = gene_id(1)
    span = annotated.genes[identifier]
    junction = reference.by_chromosome["chr1"][len(reference.by_chromosome["chr1"]) // 2].fields
    exact_window = f"chr1:{junction['start']}-{junction['end']}"
    text = f"regions=chr1:{span.start}-{span.start + 50_000},{identifier.lower()},{exact_window}"
    expected = _junction_answer(reference, text, {identifier: span})
    answer = annotated.http.get(f"/{COMPILATION}/snaptron?{text}")
    assert answer.status_code == 200 and answer.text == expected
    assert junction["snaptron_id"] in {line.split("\t")[1] for line in expected.splitlines()[1:]}
    overlapping, exact = (_junction_answer(reference, f"regions={exact_window}{mode}", {}) for mode in ("", "&exact=1"))
    assert overlapping.count("\n") > exact.count("\n") + 5       # exact=1 carried over to the last item matters
    only_the_gene = annotated.http.get(f"/{COMPILATION}/snaptron?regions={identifier}&fields=rc").text
    assert only_the_gene == f"{_junction_answer(reference, f'regions={identifier}', {identifier: span}).count(chr(10)) - 1}\n"


def test_a_gene_id_of_a_gtf_human_or_mouse_whose_span_is_a_junction_answers_that_junction(annotated, api_dataset):
    reference = api_dataset.reference
    human, mouse = (reference.by_chromosome[name][7].fields for name in ("chr1", "chr2"))
    gtf = annotated.scratch / "gencode.vM15.annotation.gtf"
    gtf.write_text("#!genome-build GRCm38\n" + "".join(
        f'{row["chromosome"]}\tENSEMBL\tgene\t{row["start"]}\t{row["end"]}\t.\t+\t.\tgene_id "{name}"; '
        f'gene_type "protein_coding";\n{row["chromosome"]}\tENSEMBL\texon\t{row["start"]}\t{row["end"]}\t.\t+\t.\t'
        f'gene_id "{name}";\n' for name, row in (("ENSG00000171094.15", human), ("ENSMUSG00000000001.4", mouse))))
    try:
        assert _load_only(annotated, "--gencode", str(gtf)) == 0
        for name, row in (("EnsG00000171094.15", human), ("ensmusg00000000001.4", mouse)):
            answer = annotated.http.get(f"/{COMPILATION}/snaptron?regions={name}").text.splitlines()
            assert answer[1:] and all(line.split("\t")[2:5] == [row["chromosome"], row["start"], row["end"]]
                                      for line in answer[1:])
            assert row["snaptron_id"] in {line.split("\t")[1] for line in answer[1:]}
    finally:
        assert _load_only(annotated, "--gencode", str(annotated.directory / GENCODE_FILE)) == 0


def test_a_gene_id_on_genes_answers_that_gene_alone_as_snaptron_does(annotated):
    identifier = gene_id(7)
    lines = annotated.http.get(f"/{COMPILATION}/genes?regions={identifier.lower()}").text.splitlines()
    assert len(lines) == 2 and lines[1].split("\t")[11].startswith(f"{identifier}:SYNG7:"), lines[1:]
    span = annotated.genes[identifier]
    assert lines[1].split("\t")[2:5] == [span.chromosome, str(span.start), str(span.end)]


@pytest.mark.parametrize("regions, message", [
    ("ENSG00000000001.99", "regions: unknown gene id 'ENSG00000000001.99'; did you mean ENSG00000000001.1"),
    ("ensg00000000001", "regions: unknown gene id 'ENSG00000000001'; did you mean ENSG00000000001.1"),
    ("chr1:1-5,ENSG99999999999.1", "regions: unknown gene id 'ENSG99999999999.1' (versioned GENCODE ids"),
])
def test_an_unknown_gene_id_is_a_400_naming_it_and_the_nearest_ids(annotated, regions, message):
    for endpoint in ("snaptron", "annotations"):
        answer = annotated.http.get(f"/{COMPILATION}/{endpoint}?regions={regions}")
        assert answer.status_code == 400 and answer.text.startswith(f"#ERROR 400 {message}"), answer.text


# /annotations -----------------------------------------------------------------------------------------------------

def test_interval_regions_answer_every_transcript_in_file_order_each_after_a_header(annotated):
    first, second = Region("chr1", 1_000_000, 1_400_000), Region("chr2", 1_050_000, 1_060_000)
    answer = annotated.http.get(f"/{COMPILATION}/annotations?regions={first},{second}")
    expected = expected_annotations(annotated.transcripts, [(False, [first], "overlap"), (False, [second], "overlap")])
    assert answer.headers["content-type"] == "text/plain" and answer.text == expected
    assert expected.count(HEADER) == 2 and expected.count("\n") > 20
    inside = annotated.http.get(f"/{COMPILATION}/annotations?regions={first}&contains=1").text
    assert inside == expected_annotations(annotated.transcripts, [(False, [first], "contains")])
    assert 1 < inside.count("\n") < expected.count("\n"), "the case must keep some transcripts and drop others"


def test_gene_regions_rank_by_exons_and_cds_limit_per_locus_and_print_one_header(annotated):
    symbols = annotated.symbols
    for text, items, limit in [
        ("SYNG3,syngm&limit=2", [(True, symbols["SYNG3"], "overlap"), (True, symbols["SYNGM"], "overlap")], 2),
        ("SYNG7", [(True, symbols["SYNG7"], "overlap")], 20),
        ("chr1:1000000-1100000,SYNG5,chr1:1000000-1100000&limit=1",
         [(False, [Region("chr1", 1_000_000, 1_100_000)], "overlap"), (True, symbols["SYNG5"], "overlap"),
          (False, [Region("chr1", 1_000_000, 1_100_000)], "overlap")], 1),
        (f"{gene_id(4)},SYNG4", [(True, [annotated.genes[gene_id(4)]], "exact"), (True, symbols["SYNG4"], "exact")],
         20),
    ]:
        answer = annotated.http.get(f"/{COMPILATION}/annotations?regions={text}")
        expected = expected_annotations(annotated.transcripts, items, limit)
        assert answer.status_code == 200 and answer.text == expected, text
        assert expected.count(HEADER) == (2 if text.startswith("chr1") else 1)
        assert len(set(line.split("\t")[6] for line in expected.splitlines()[1:])) > 1, text   # ranks differ


@pytest.mark.parametrize("query, parameter", [("regions=SYNG1&within=1", "'within'"),
                                              ("regions=SYNG1&rfilter=strand:+", "'rfilter'"),
                                              ("contains=1", "regions"), ("regions=SYNG1&limit=0", "limit")])
def test_annotations_refuse_other_parameters_naming_them(annotated, query, parameter):
    answer = annotated.http.get(f"/{COMPILATION}/annotations?{query}")
    assert answer.status_code == 400 and answer.text.startswith(f"#ERROR 400 {parameter}"), answer.text


# Loads ------------------------------------------------------------------------------------------------------------

def _load_only(annotated: Annotated, *options: str) -> int:
    empty = annotated.scratch / "none.tsv"
    empty.write_text("")
    return load([str(empty), "--outputs", annotated.outputs, "--quiet", "--rejects",
                 str(annotated.scratch / "rejects.tsv"), *options])


def test_a_bad_line_in_either_file_fails_the_load_naming_file_and_line_and_changes_nothing(
        annotated, api_environment, capsys):
    before = query_all_shards(api_environment, TABLES)
    gff3 = annotated.scratch / "gencode.bad.gff3"
    gff3.write_text("##gff-version 3\nchr1\tHAVANA\tgene\t100\t900\t.\t+\t.\tgene_id=ENSG1.1\n"
                    "chr1\tHAVANA\tgene\t900\t100\t.\t+\t.\tgene_id=ENSG2.1\n")
    text = annotated.scratch / "all_transcripts.gtf"
    text.write_text('chr1\tGC\ttranscript\t100\t900\t.\t+\t.\ttranscript_id "T1";exons "100-200,800-900";\n'
                    'chr1\tGC\ttranscript\t300\t900\t.\t+\t.\ttranscript_id "T2";\n')
    bgzip = annotated.scratch / ANNOTATIONS_FILE
    pysam.tabix_compress(str(text), str(bgzip), force=True)
    capsys.readouterr()
    for option, path, problem in (("--gencode", gff3, "line 3: start 900 is after end 100"),
                                  ("--annotations", bgzip, 'line 2: no exons "s-e,…" attribute')):
        assert _load_only(annotated, option, str(path), "--genes", str(annotated.directory / GENES_FILE)) == 1
        error = capsys.readouterr().err
        assert error.startswith(f"error: {path}: {problem}") and "nothing changed" in error, error
    assert query_all_shards(api_environment, TABLES) == before
    duplicate = annotated.scratch / "gencode.twice.gff3"
    duplicate.write_text("chr1\tH\tgene\t1\t9\t.\t+\t.\tgene_id=ENSG1.1\nchr2\tH\tgene\t1\t9\t.\t+\t.\tgene_id=ensg1.1\n")
    assert _load_only(annotated, "--gencode", str(duplicate)) == 1
    assert "line 2: gene_id ENSG1.1 is also the gene of line 1" in capsys.readouterr().err


def test_loading_the_directory_twice_leaves_the_same_rows_and_answers(annotated, api_environment):
    question = f"/{COMPILATION}/annotations?regions=SYNG9,chr1:2000000-2600000"
    before = (query_all_shards(api_environment, TABLES), annotated.http.get(question).text)
    assert load([str(annotated.directory), "--outputs", annotated.outputs, "--quiet", "--rejects",
                 str(annotated.scratch / "rejects.tsv")]) == 0
    assert (query_all_shards(api_environment, TABLES), annotated.http.get(question).text) == before
