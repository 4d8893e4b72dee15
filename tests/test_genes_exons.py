"""`/genes` and `/exons` (SNAPTRON-WIRE.md §9): the generated compilation's gene and exon rows through the API.

The generator's genes.bgz and exons.bgz (and its refFlat table, for symbols)
are loaded into the API tests' shards beside their junctions; every answer
must equal a plain-Python reading of the same files (tests/api_fixtures.py's
Reference, given the gene or exon lines instead of the junctions): regions
by coordinates and by symbol, every mode, rfilter, sids projection, fields
with junction names, ids, path ids, counts, bulk and the real HTTP front.
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import random
from urllib.parse import quote

import httpx
import pytest

from loaders.cli import main as load
from snapthunder import query as query_language
from snapthunder.features import EXONS, FEATURES, GENE_HEADER, GENES
from snapthunder.gene_loci import loci
from snapthunder.junctions import COLUMNS
from snapthunder.layout import GENES_FILE

pytest.register_assert_rewrite("tests.api_fixtures")
from tests.api_fixtures import COMPILATION, Junction, Reference  # noqa: E402 (registered first)
from tests.conftest import emptied_by_hand  # noqa: E402

pytest_plugins = ["tests.api_fixtures"]

HEADER = "\t".join(("DataSource:Type", *GENE_HEADER)) + "\n"
LOADED_TABLES = "gene, gene_chromosome_stats, exon, exon_chromosome_stats, gene_transcript"


@dataclasses.dataclass(frozen=True)
class Loaded:
    references: dict[str, Reference]     # endpoint → its rows' Reference
    transcripts: dict[str, list[tuple[str, int, int]]]   # symbol → refFlat transcripts (1-based)
    before_load: dict[str, bytes]        # endpoint → its answer before genes.bgz/exons.bgz were loaded


@pytest.fixture(scope="module")
def loaded(api_environment, api_dataset, api_app, tmp_path_factory):
    """genes.bgz, exons.bgz and the refFlat table of the API's compilation, loaded (an empty junctions file keeps
    its junctions); emptied again afterwards, as other modules expect."""
    generated = api_dataset.junctions_path.parent
    client = api_app.test_client()
    before = {name: client.get(f"/{COMPILATION}/{name}?regions=chr1:1-25000000").data for name in ("genes", "exons")}
    directory = tmp_path_factory.mktemp("coverage")
    (directory / "junctions.tsv").write_text("")
    for name in (GENES.file, EXONS.file, GENES_FILE):
        (directory / name).symlink_to(generated / name)
    assert load([str(directory), "--outputs", str(api_environment.extra["outputs"]), "--quiet",
                 "--rejects", str(directory / "rejects.tsv")]) == 0
    references = {}
    for feature in (GENES, EXONS):
        with gzip.open(generated / feature.file, "rt") as handle:
            references[feature.name] = Reference([Junction(dict(zip(COLUMNS, line.rstrip("\n").split("\t"))))
                                                  for line in handle])
    transcripts: dict[str, list[tuple[str, int, int]]] = {}
    for line in (generated / GENES_FILE).read_text().splitlines():
        cells = line.split("\t")
        transcripts.setdefault(cells[0], []).append((cells[2], int(cells[4]) + 1, int(cells[5])))
    yield Loaded(references, transcripts, before)
    emptied_by_hand(api_environment, LOADED_TABLES)


def expected(loaded: Loaded, endpoint: str, text: str) -> str:
    """The whole TSV answer to `text` on `endpoint`, from the plain-Python reading of its file."""
    feature = FEATURES[endpoint]
    query = dataclasses.replace(query_language.parse(query_language.split_query_string(text), 10_000),
                                feature=feature)
    lines = loaded.references[endpoint].lines(query, f"GTEx:{feature.row_type}")
    header = ["\t".join(query.output_columns)] if query.header else []
    return "".join(line + "\n" for line in header + lines)


def random_query(generator: random.Random, reference: Reference) -> str:
    """Regions around real rows in every mode, with rfilter, sids, ids, fields and header=0 mixed in."""
    row = generator.choice(reference.junctions).fields
    start, end = int(row["start"]), int(row["end"])
    mode = generator.choice(("", "contains=1", "exact=1", "either=1", "either=2"))
    if mode == "exact=1":
        region = f"{row['chromosome']}:{start}-{end}"
    else:
        low = max(1, start - generator.choice((0, 5_000, 100_000)))
        region = f"{row['chromosome']}:{low}-{low + generator.choice((1, 20_000, 200_000, 2_000_000))}"
    parts = [f"regions={region}"] + ([mode] if mode else [])
    for _ in range(generator.choice((0, 1, 2))):
        field, operator = generator.choice((("samples_count", ">:"), ("samples_count", "<"), ("coverage_sum", ">"),
                                            ("coverage_avg", "<:"), ("coverage_median", ">:"), ("length", "<"),
                                            ("strand", ":"), ("strand", "!:")))
        value = generator.choice("+-") if field == "strand" else generator.choice(reference.junctions).fields[field]
        parts.append("rfilter=" + quote(f"{field}{operator}{value}", safe=":<>!"))
    if generator.random() < 0.3 and row["samples"]:
        samples = [int(item.split(":")[0]) for item in row["samples"][1:].split(",")]
        parts.append("sids=" + ",".join(map(str, generator.sample(samples, min(len(samples), 3)))))
    if generator.random() < 0.15:
        parts.append(f"ids={row['snaptron_id']},{generator.randrange(800)}")
    if generator.random() < 0.3:
        parts.append("fields=" + ",".join(generator.sample(COLUMNS, generator.randrange(1, 5))))
    if generator.random() < 0.1:
        parts.append("header=0")
    return "&".join(parts)


def test_before_a_load_the_endpoints_answer_their_header_alone(loaded):
    assert loaded.before_load == {"genes": HEADER.encode(), "exons": HEADER.encode()}


@pytest.mark.parametrize("endpoint", ["genes", "exons"])
def test_random_queries_answer_exactly_the_files_rows(client, loaded, endpoint):
    generator = random.Random(f"coverage-{endpoint}")
    reference = loaded.references[endpoint]
    answered_rows = 0
    for _ in range(60):
        text = random_query(generator, reference)
        response = client.get(f"/{COMPILATION}/{endpoint}?{text}")
        assert response.status_code == 200 and response.content_type == "text/plain", text
        assert response.get_data(as_text=True) == expected(loaded, endpoint, text), text
        answered_rows += response.data.count(b"\n")
    assert answered_rows > 120     # header lines included; the queries are aimed at rows: many answer some


@pytest.mark.parametrize("endpoint", ["genes", "exons"])
def test_an_unprojected_row_is_the_files_line_with_its_prefix_and_the_gene_header(client, loaded, endpoint):
    row = loaded.references[endpoint].junctions[0].fields
    answer = client.get(f"/{COMPILATION}/{endpoint}?regions={row['chromosome']}:{row['start']}-{row['end']}"
                        "&exact=1").get_data(as_text=True)
    prefix = "GTEx:G" if endpoint == "genes" else "GTEx:E"
    assert answer == HEADER + "\t".join([prefix, *(row[column] for column in COLUMNS)]) + "\n"
    assert "\t\t\t\t" in answer.splitlines()[1]    # columns 7-9 are empty strings, as Snaptron's files have them


def test_fields_take_junction_names_and_the_header_names_them_as_genes(client, loaded):
    answer = client.get(f"/{COMPILATION}/genes?regions=chr1:1-25000000&fields=snaptron_id,left_annotated,"
                        "right_annotated&header=1").get_data(as_text=True).splitlines()
    assert answer[0] == "DataSource:Type\tsnaptron_id\texon_count\tgene_id:gene_name:gene_type:bp_length"
    assert answer[1:] and all(line.split("\t")[3].split(":")[1].startswith("SYNG") for line in answer[1:])


@pytest.mark.parametrize("symbol", ["SYNG7", "syng150", "SYNGM"])
def test_a_gene_symbol_answers_what_its_loci_given_as_coordinates_answer(client, loaded, symbol):
    spans = ",".join(str(region) for region in loci(loaded.transcripts[symbol.upper()]))
    for endpoint in ("genes", "exons"):
        by_symbol = client.get(f"/{COMPILATION}/{endpoint}?regions={symbol}&contains=1").get_data(as_text=True)
        assert by_symbol == expected(loaded, endpoint, f"regions={spans}&contains=1")
        names = {line.split("\t")[11].split(":")[1] for line in by_symbol.splitlines()[1:]}
        assert symbol.upper() in names
    if symbol == "SYNGM":     # three loci on two chromosomes: three genes
        assert by_symbol.count("SYNGM") >= 3 and {"chr1", "chr2"} <= {line.split("\t")[2]
                                                                      for line in by_symbol.splitlines()[1:]}


def test_ids_path_ids_counts_and_their_own_id_space(client, loaded):
    genes = client.get(f"/{COMPILATION}/genes?ids=0,5,7").get_data(as_text=True)
    assert genes == expected(loaded, "genes", "ids=0,5,7")
    assert client.get(f"/{COMPILATION}/genes/0,5,7").get_data(as_text=True) == genes
    junction = client.get(f"/{COMPILATION}/snaptron?ids=0,5,7").get_data(as_text=True)
    assert junction.splitlines()[1].startswith("GTEx:I\t") and junction != genes
    total = len(loaded.references["exons"].junctions)
    assert client.get(f"/{COMPILATION}/exons?rfilter=samples_count>:0&fields=rc").data == f"{total}\n".encode()


def test_bulk_groups_label_each_querys_rows(client, loaded):
    queries = ["group=first&regions=SYNG3", "group=second&regions=chr1:1-3000000&rfilter=strand:+"]
    body = {"groups": base64.b64encode("|||".join(queries).encode()).decode()}
    answer = client.post(f"/{COMPILATION}/exons", data=body).get_data(as_text=True).splitlines()
    assert answer[0] == "\t".join(("Group", *GENE_HEADER))
    spans = ",".join(str(region) for region in loci(loaded.transcripts["SYNG3"]))
    expected_rows = []
    for label, text in (("first", f"regions={spans}"), ("second", "regions=chr1:1-3000000&rfilter=strand:+")):
        expected_rows += [label + line[line.index("\t"):] for line in expected(loaded, "exons", text).splitlines()[1:]]
    assert answer[1:] == expected_rows and len(expected_rows) > 2


def test_over_http_genes_and_exons_answer_get_head_and_double_slashes(api_environment, loaded):
    with httpx.Client(base_url=api_environment.api_url, timeout=60) as http:
        for endpoint in ("genes", "exons"):
            answer = http.get(f"/{COMPILATION}//{endpoint}", params={"regions": "SYNG12"})
            assert answer.status_code == 200 and answer.headers["content-type"] == "text/plain"
            spans = ",".join(str(region) for region in loci(loaded.transcripts["SYNG12"]))
            assert answer.text == expected(loaded, endpoint, f"regions={spans}")
            head = http.head(f"/{COMPILATION}/{endpoint}?regions=SYNG12")
            assert head.status_code == 200 and head.headers["content-type"] == "text/plain"
        unknown = http.get(f"/{COMPILATION}/genes?regions=NOSUCHGENE")
        assert unknown.status_code == 400 and "NOSUCHGENE" in unknown.text


def test_sfilter_projects_gene_rows_on_the_samples_it_matches(client, loaded, api_dataset):
    column = api_dataset.samples_header.split("\t").index("smts")
    liver = sorted(rail_id for rail_id, line in api_dataset.sample_lines.items()
                   if line.split("\t")[column] == "Liver")
    answer = client.get(f"/{COMPILATION}/genes?regions=SYNG40,SYNG41&sfilter=smts:liver").get_data(as_text=True)
    spans = ",".join(str(region) for symbol in ("SYNG40", "SYNG41") for region in loci(loaded.transcripts[symbol]))
    assert answer == expected(loaded, "genes", f"regions={spans}&sids={','.join(map(str, liver))}")
    assert len(answer.splitlines()) == 3
