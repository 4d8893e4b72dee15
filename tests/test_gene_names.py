"""Gene names in `regions=` (SNAPTRON-WIRE.md §4): Snaptron's locus merging, and the API over HTTP.

The merging rule is tested alone on transcripts written for each case; the
API is loaded with a small refFlat file (`--genes`) whose loci lie where the
generated compilation has junctions, and a gene's answer must be exactly the
answer to its loci given as coordinates.
"""

from __future__ import annotations

import contextlib
import json
from urllib.parse import urlencode

import httpx
import psycopg2
import pytest
from psycopg2 import sql

from loaders.cli import main as load
from snapthunder.gene_loci import NAMES_CHANGED, loci, transcripts_statement
from snapthunder.query import Region
from snapthunder_api.name_cache import GeneNameCache

pytest.register_assert_rewrite("tests.api_fixtures")
from tests.api_fixtures import COMPILATION, expected_tsv  # noqa: E402 (registered first)
from tests.conftest import emptied_by_hand, in_compilation, query_all_shards  # noqa: E402

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


def load_genes(api_environment, scratch, rows) -> None:
    """Load `rows` (REFFLAT's layout) as the shards' RefSeq transcripts, with the loader and no junctions."""
    genes = scratch / "refseq_transcripts_by_hgvs.tsv"
    genes.write_text("".join("\t".join(map(str, row + (row[4] + 10, row[5] - 10, 1, f"{row[4]},", f"{row[5]},")))
                             + "\n" for row in rows))
    empty = scratch / "none.tsv"
    empty.write_text("")
    assert load([str(empty), "--outputs", str(api_environment.extra["outputs"]), "--genes", str(genes), "--quiet",
                 "--rejects", str(scratch / "rejects.tsv")]) == 0


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("genes")


@pytest.fixture(scope="module")
def http(api_environment, scratch):
    load_genes(api_environment, scratch, REFFLAT)
    with httpx.Client(base_url=api_environment.api_url, timeout=60) as client:
        yield client
    emptied_by_hand(api_environment, "gene_transcript")   # other modules expect no gene names


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


# A worker's cache of gene names (images/ui/snapthunder_api/name_cache.py) ------------------------------------------

def test_a_gene_name_a_worker_has_looked_up_is_answered_without_a_lookup(http, api_environment, client, api_dataset):
    expected = expected_tsv(api_dataset.reference, f"regions={GENEA_LOCI}")
    assert client.get(f"/{COMPILATION}/snaptron?regions=GENEA").text == expected     # looked up, and kept
    with _transcripts_away(api_environment):
        cached = client.get(f"/{COMPILATION}/snaptron?regions=genea")
        assert cached.status_code == 200 and cached.text == expected
        looked_up = client.get(f"/{COMPILATION}/snaptron?regions=GENEB")            # never asked: a lookup, which fails
        assert looked_up.status_code != 200, looked_up.text


def test_a_load_after_a_lookup_makes_the_worker_look_the_name_up_again(http, api_environment, client, api_dataset,
                                                                        scratch):
    before, moved = "chr1:2000001-2100000", "chr1:1000000-1010000"
    assert client.get(f"/{COMPILATION}/snaptron?regions=GENEB").text == expected_tsv(
        api_dataset.reference, f"regions={before}")
    kept = client.application.extensions["snapthunder"].gene_names(COMPILATION)
    load_id = _last_load_ids(api_environment)
    assert kept.held(["GENEB"]) == (load_id, {"GENEB": [Region("chr1", 2_000_001, 2_100_000)]})
    load_genes(api_environment, scratch, [row if row[0] != "GENEB" else ("GENEB", "NM_6", "chr1", "+", 999_999,
                                                                         1_010_000) for row in REFFLAT])
    try:
        assert _last_load_ids(api_environment) != load_id
        # UCSC links read no rows that could check the cached locus: they look GENEB up.
        links = client.get(f"/{COMPILATION}/snaptron?regions=GENEB&return_format=2").text.splitlines()
        assert [line.split("\t")[1] for line in links[1:]] == [moved], links
        assert kept.held(["GENEB"])[1] == {"GENEB": [Region("chr1", 1_000_000, 1_010_000)]}
        kept.keep(load_id, {"GENEB": [Region("chr1", 2_000_001, 2_100_000)]})       # the earlier load's, again
        # In-process and over HTTP (every gunicorn worker that has GENEB cached): the moved locus, never the old.
        assert client.get(f"/{COMPILATION}/snaptron?regions=GENEB").text == expected_tsv(
            api_dataset.reference, f"regions={moved}")
        assert kept.held(["GENEB"])[1] == {"GENEB": [Region("chr1", 1_000_000, 1_010_000)]}
        for _ in range(6):
            assert http.get(f"/{COMPILATION}/snaptron?regions=GENEB").text == expected_tsv(
                api_dataset.reference, f"regions={moved}")
    finally:
        load_genes(api_environment, scratch, REFFLAT)


def test_a_statement_from_names_of_an_earlier_load_is_refused_on_the_shard(http, api_environment):
    shard = next(iter(api_environment.shards.values()))
    load_id = _last_load_ids(api_environment)
    with psycopg2.connect(**in_compilation(api_environment, shard, api_environment.reader)) as connection, \
            connection.cursor() as cursor:
        cursor.execute("SELECT last_load_is(%s)", (load_id,))
        assert cursor.fetchone() == (True,)
        with pytest.raises(psycopg2.Error) as refused:
            cursor.execute("SELECT last_load_is(%s)", ("an-earlier-load",))
        assert refused.value.pgcode == NAMES_CHANGED
    connection.close()


def test_a_shard_without_the_check_has_its_names_looked_up_every_time(http, api_environment):
    """A volume initialised before last_load_is (04-query.sql) existed: the lookup gives no load to cache under."""
    shard = next(iter(api_environment.shards.values()))
    statement, parameters = transcripts_statement(["GENEB"])
    with psycopg2.connect(**in_compilation(api_environment, shard)) as connection, connection.cursor() as cursor:
        cursor.execute(statement, parameters)
        assert cursor.fetchall() == [("GENEB", "chr1", 2_000_001, 2_100_000, _last_load_ids(api_environment))]
        cursor.execute("DROP FUNCTION last_load_is(text)")
        cursor.execute(statement, parameters)
        assert cursor.fetchall() == [("GENEB", "chr1", 2_000_001, 2_100_000, None)]
        connection.rollback()
    connection.close()


def test_a_workers_cache_holds_the_names_of_one_load_and_no_more_than_its_bound():
    cache = GeneNameCache(most=2)
    a, b, c = ([Region("chr1", start, start + 9)] for start in (1, 100, 200))
    assert cache.held(["A"]) is None
    cache.keep("load-1", {"A": a, "B": b})
    assert cache.held(["B", "A"]) == ("load-1", {"B": b, "A": a}) and cache.held(["A", "C"]) is None
    cache.keep("load-2", {"C": c})                       # a newer load: what an earlier one gave is gone
    assert cache.held(["A"]) is None and cache.held(["C"]) == ("load-2", {"C": c})
    cache.keep("load-2", {"A": a})
    cache.keep("load-2", {"B": b})                       # past the bound: starts again
    assert cache.held(["B"]) == ("load-2", {"B": b}) and cache.held(["A"]) is None
    cache.forget()
    assert cache.held(["B"]) is None


def _last_load_ids(api_environment) -> str:
    """The compilation's last load id, the same on every shard."""
    shards = query_all_shards(api_environment, "SELECT value FROM shard_metadata WHERE key = 'last_load_id'")
    found = {row for rows in shards.values() for row in rows}
    assert len(found) == 1, shards
    [(load_id,)] = found
    return load_id


@contextlib.contextmanager
def _transcripts_away(api_environment):
    """gene_transcript renamed on every shard while the block runs: a lookup of a symbol then fails."""
    def rename(old: str, new: str) -> None:
        for shard in api_environment.shards.values():
            with psycopg2.connect(**in_compilation(api_environment, shard)) as connection, \
                    connection.cursor() as cursor:
                cursor.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(sql.Identifier(old), sql.Identifier(new)))
            connection.close()
    rename("gene_transcript", "gene_transcript_away")
    try:
        yield
    finally:
        rename("gene_transcript_away", "gene_transcript")
