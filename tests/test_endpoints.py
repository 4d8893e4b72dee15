"""The endpoints document: its shape, its checks, and its use as the reader."""

import json

import pytest

from snapthunder import endpoints
from snapthunder.compilations import CompilationError, compilation, parse_all
from snapthunder.endpoints import Credentials, Endpoints, EndpointsError
from snapthunder.plan import plan_shards


def sample_document(shards=3, compilations=("gtex",)):
    plan = plan_shards(shards)
    addresses = {name: (f"{name}.example", 5432, "snapthunder") for name in plan.shards}
    loader = {name: Credentials("loader", f"secret-{name}") for name in plan.shards}
    return endpoints.document(parse_all(compilations), plan, addresses, loader, Credentials("reader", "read-secret"), "http://api:8000")


def test_the_document_has_the_documented_shape():
    document = sample_document()
    assert set(document) == {"compilations", "api_url", "catch_all_shard", "chromosome_shards", "reader", "shards"}
    assert document["shards"]["shard-0"]["host"] == "shard-0.example"
    assert document["compilations"] == {"gtex": {"data_source": "GTEx", "genome": "hg38"}}
    assert sorted(c for s in document["shards"].values() for c in s["chromosomes"]) == sorted(document["chromosome_shards"])


def test_a_document_round_trips_through_a_file_with_its_extra_keys(tmp_path):
    document = sample_document() | {"kubernetes": {"namespace": "snapthunder"}}
    parsed = Endpoints.from_document(document, "test")
    assert parsed.plan() == plan_shards(3)
    endpoints.save(parsed, tmp_path / "e.json")
    assert json.loads((tmp_path / "e.json").read_text()) == document
    assert endpoints.load(tmp_path / "e.json") == parsed


def test_for_reader_replaces_every_loader_password():
    reader_view = Endpoints.from_document(sample_document(), "test").for_reader()
    assert {(shard.user, shard.password) for shard in reader_view.shards.values()} == {("reader", "read-secret")}
    assert "secret-shard" not in json.dumps(reader_view.to_document())


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("shards"), "test: missing 'shards'"),
    (lambda d: d.update(shards={}), "'shards' is empty"),
    (lambda d: d["shards"]["shard-1"].pop("password"), "'shards.shard-1' lacks password"),
    (lambda d: d["shards"]["shard-0"].update(port="http"), "'shards.shard-0.port' must be a port number"),
    (lambda d: d["shards"]["shard-0"].update(port=70000), "must be a port number, got 70000"),
    (lambda d: d.update(catch_all_shard="shard-9"), "catch_all_shard 'shard-9' is not one of the shards"),
    (lambda d: d["reader"].pop("user"), "test: reader: missing 'user'"),
    (lambda d: d.update(compilations=7), "'compilations' must be a dict, got int"),
    (lambda d: d.update(compilations={}), "'compilations' is empty"),
    (lambda d: d.update(compilations={"GTEx": {}}), "'compilations.GTEx': a compilation name is lower-case"),
    (lambda d: d.update(compilations={"gtex": {"genome": "hg19"}}), "the genome is one of hg38, mm10; got 'hg19'"),
])
def test_a_malformed_document_is_refused_naming_the_key(change, message):
    document = sample_document()
    change(document)
    with pytest.raises(EndpointsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Endpoints.from_document(document, "test")


def test_an_unreadable_file_names_the_file_and_the_line(tmp_path):
    (tmp_path / "broken.json").write_text('{"compilation":\n  oops}')
    with pytest.raises(EndpointsError, match=r"broken.json:2: not JSON"):
        endpoints.load(tmp_path / "broken.json")
    with pytest.raises(EndpointsError, match="no endpoints document here; start the local environment"):
        endpoints.load(tmp_path / "absent.json")


def test_several_compilations_each_keep_their_label_and_genome_and_the_loader_must_be_told_which():
    document = sample_document(compilations=("gtex", "tcga", "srav1m", "mine:MyLabel"))
    assert document["compilations"] == {"gtex": {"data_source": "GTEx", "genome": "hg38"},
                                        "tcga": {"data_source": "TCGA", "genome": "hg38"},
                                        "srav1m": {"data_source": "srav1m", "genome": "mm10"},
                                        "mine": {"data_source": "MyLabel", "genome": "hg38"}}
    parsed = Endpoints.from_document(document, "test")
    assert parsed.to_document() == document
    assert parsed.configured("tcga") == compilation("tcga")
    assert parsed.configured("gtexv2").data_source == "gtexv2"   # not configured: Snaptron's label for it
    with pytest.raises(EndpointsError, match=r"serves 4 compilations \(gtex, tcga, srav1m, mine\): say which one "
                                             "with --compilation NAME"):
        parsed.compilation


def test_a_document_of_one_compilation_from_before_reads_as_that_compilation():
    document = sample_document()
    document["compilation"] = document.pop("compilations") and "tcga"
    parsed = Endpoints.from_document(document, "old")
    assert parsed.compilations == {"tcga": compilation("tcga")} and parsed.compilation == "tcga"
    assert "compilation" not in parsed.to_document() and parsed.to_document()["compilations"] == {
        "tcga": {"data_source": "TCGA", "genome": "hg38"}}


@pytest.mark.parametrize("name, label", [("gtex\n", None), ("gtex", "GTEx\n")])
def test_a_compilation_name_or_label_ending_in_a_newline_is_refused(name, label):
    """Both go into every line the API sends (the label leads each /samples line): a newline would split it."""
    with pytest.raises(CompilationError):
        compilation(name, label)
