"""Gene names in `regions=` (SNAPTRON-WIRE.md §4): Snaptron's locus merging, and the API over HTTP.

The merging rule is tested alone on transcripts written for each case; the
API is loaded with a small refFlat file (`--genes`) whose loci lie where the
generated compilation has junctions, and a gene's answer must be exactly the
answer to its loci given as coordinates.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import httpx
import psycopg2
import pytest

from loaders.cli import main as load
from snapthunder.gene_loci import loci
from snapthunder.query import Region

pytest.register_assert_rewrite("tests.api_fixtures")
from tests.api_fixtures import COMPILATION, expected_tsv  # noqa: E402 (registered first)
from tests.conftest import in_compilation  # noqa: E402

pytest_plugins = ["tests.api_fixtures"]

# refFlat: symbol, name, chromosome, strand, txStart (0-based), txEnd, cdsStart, cdsEnd, exons, starts, ends.
REFFLAT = [("GeneA", "NM_1", "chr1", "+", 999_999, 1_050_000), ("GENEA", "NM_2", "chr1", "+", 1_045_000, 1_058_000),
           ("GENEA", "NM_3", "chr1", "+", 1_300_000, 1_350_000), ("GENEA", "NM_4", "chr2", "-", 1_000_000, 1_100_000),
           ("GENEA", "NM_5", "chr6_GL000250v2_alt", "+", 10, 500), ("GENEB", "NM_6", "chr1", "+", 2_000_000, 2_100_000)]
GENEA_LOCI = "chr1:1000000-1058000,chr1:1300001-1350000,chr2:1000001-1100000"


@pytest.mark.parametrize("transcripts, expected", [
    ([("chr1", 100, 200), ("chr1", 150, 300)], [("chr1", 100, 300)]),                     # overlapping
    ([("chr1", 100, 200), ("chr1", 20_000, 30_000)], [("chr1", 100, 200), ("chr1", 20_000, 30_000)]),
    ([("chr1", 100, 50_000), ("chr1", 55_000, 58_000)], [("chr1", 100, 58_000)]),         # ends 8 kb apart
    ([("chr1", 100, 50_000), ("chr1", 55_000, 60_001)], [("chr1", 100, 50_000), ("chr1", 55_000, 60_001)]),
    ([("chr1", 100, 200), ("chr1", 50, 120)], [("chr1", 50, 200)]),                         # its end inside
    ([("chr1", 1, 10), ("chr1", 100_000, 100_010), ("chr1", 5, 100_005)],                  # joins both spans
     [("chr1", 1, 100_005), ("chr1", 5, 100_010)]),
    ([("chrX", 5, 9), ("chr2", 5, 9), ("chr10", 5, 9)], [("chr10", 5, 9), ("chr2", 5, 9), ("chrX", 5, 9)]),
])
def test_a_symbols_transcripts_merge_into_loci_as_snaptron_merges_them(transcripts, expected):
    assert loci(transcripts) == [Region(*span) for span in expected]


@pytest.fixture(scope="module")
def http(api_environment, tmp_path_factory):
    scratch = tmp_path_factory.mktemp("genes")
    genes = scratch / "refseq_transcripts_by_hgvs.tsv"
    genes.write_text("".join("\t".join(map(str, row + (row[4] + 10, row[5] - 10, 1, f"{row[4]},", f"{row[5]},")))
                             + "\n" for row in REFFLAT))
    empty = scratch / "none.tsv"
    empty.write_text("")
    outputs = str(api_environment.extra["outputs"])
    assert load([str(empty), "--outputs", outputs, "--genes", str(genes), "--quiet",
                 "--rejects", str(scratch / "rejects.tsv")]) == 0
    with httpx.Client(base_url=api_environment.api_url, timeout=60) as client:
        yield client
    for shard in api_environment.shards.values():   # other modules expect no gene names
        with psycopg2.connect(**in_compilation(api_environment, shard)) as connection, connection.cursor() as cursor:
            cursor.execute("TRUNCATE gene_transcript")
        connection.close()


def test_a_gene_name_answers_exactly_its_loci_in_any_case(http, api_dataset):
    expected = expected_tsv(api_dataset.reference, f"regions={GENEA_LOCI}")
    assert expected.count("\n") > 10
    for regions in ("GENEA", "genea", "GeneA,GENEA"):
        answer = http.get(f"/{COMPILATION}/snaptron?regions={regions}")
        assert answer.headers["content-type"] == "text/plain" and answer.text == expected, regions
    mixed = "regions=GENEB,chr1:1000000-1010000&rfilter=samples_count>:5&contains=1&fields=snaptron_id,start,end"
    assert http.get(f"/{COMPILATION}/snaptron?{mixed}").text == expected_tsv(
        api_dataset.reference, mixed.replace("GENEB", "chr1:2000001-2100000"))


def test_a_gene_in_bed_form_gives_one_track_per_locus_and_in_legacy_json_its_rows(http, api_dataset):
    bed = http.get(f"/{COMPILATION}/snaptron?regions=GENEA&return_format=1").text.splitlines()
    assert [line for line in bed if line.startswith("browser position")] == [
        f"browser position {region}" for region in GENEA_LOCI.split(",")]
    form = urlencode({"fields": json.dumps([{"genes": ["genea"]}])})
    legacy = http.post(f"/{COMPILATION}/snaptron", content=form,
                       headers={"Content-Type": "application/x-www-form-urlencoded"}).text.splitlines()
    assert legacy[2:] == expected_tsv(api_dataset.reference, f"regions={GENEA_LOCI}").splitlines()[1:]


@pytest.mark.parametrize("regions, message", [
    ("GENEC", "regions: unknown gene 'GENEC'; did you mean GENEB, GENEA?"),
    ("chr1:1-5,NOPE", "regions: unknown gene 'NOPE'"),
    ("ENSG00000171094.15", "regions: gene id 'ENSG00000171094.15': no GENCODE genes are loaded"),
])
def test_an_unknown_gene_is_a_400_naming_it_and_the_nearest_symbols(http, regions, message):
    answer = http.get(f"/{COMPILATION}/snaptron?regions={regions}")
    assert answer.status_code == 400 and answer.text.startswith(f"#ERROR 400 {message}"), answer.text
