"""Several compilations in one deployment: each its own schema on the same shards, loaded, reloaded and dropped alone.

One local environment (two shards and the real API, nginx in front of
gunicorn) configured with gtex and tcga; a third, srav2, is loaded without
being configured. The same chromosomes are in each, with distinct
snaptron_ids, rail_ids and sample fields, so a row or field that crossed
over would show.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from loaders.cli import main as load
from snapthunder import localenv
from snapthunder.endpoints import Endpoints
from snapthunder_api.shards import SERVED_SECONDS
from tests.conftest import junction_line, query_all_shards, scratch_directory, write_gzip

CHROMOSOMES = ("chr1", "chr2", "chrX")
# Snaptron's own layout: each compilation its own rail_id range, its own snaptron_ids.
RAIL_IDS = {"gtex": 50_099, "tcga": 59_761, "srav2": 0}
FIELDS = {"gtex": ("SMTS", "t"), "tcga": ("gdc_cases.project.project_id", "t"), "srav2": ("spots", "i")}
LABELS = {"gtex": "GTEx", "tcga": "TCGA", "srav2": "SRAv2"}
WAIT_SECONDS = 60


def compilation_files(directory: Path, name: str, per_chromosome: int, first_id: int = 0) -> tuple[Path, Path]:
    """A junctions file and a samples.tsv of compilation `name`: its rail_ids, its field, its id range."""
    base = RAIL_IDS[name]
    lines, snaptron_id = [], first_id
    for chromosome in CHROMOSOMES:
        for index in range(per_chromosome):
            start = 10_000 + index * 300
            lines.append(junction_line(snaptron_id, chromosome, start, start + 150 + index,
                                       ((base + sample, sample + 1) for sample in range(index % 3 + 1))))
            snaptron_id += 1
    junctions = write_gzip(directory / f"{name}-{first_id}.gz", lines)
    field, kind = FIELDS[name]
    value = "12" if kind == "i" else f"{name}-tissue"
    samples = directory / f"{name}-samples.tsv"
    samples.write_text(f"rail_id\t{field}\n" + "".join(f"{base + sample}\t{value}\n" for sample in range(3)))
    return junctions, samples


@pytest.fixture(scope="module")
def deployment() -> Iterator[tuple[Endpoints, Path, Path]]:
    """gtex and tcga configured, both loaded, served by the real API; (environment, document, scratch)."""
    root = scratch_directory("snapthunder-compilations-")
    outputs = root / "endpoints.json"
    environment = localenv.up(shards=2, outputs=outputs, data_dir=root / "data", compilations=("gtex", "tcga"),
                              durable=False, start_api=True)
    try:
        for name, per_chromosome in (("gtex", 40), ("tcga", 25)):
            junctions, samples = compilation_files(root, name, per_chromosome)
            assert load([str(junctions), "--compilation", name, "--samples", str(samples), "--outputs", str(outputs),
                         "--quiet", "--rejects", str(root / f"{name}.rejects")]) == 0
        yield environment, outputs, root
    finally:
        localenv.down(outputs)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def http(deployment) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=deployment[0].api_url, timeout=30) as client:
        yield client


def rows(http: httpx.Client, compilation: str, regions: str = "chr1:1-100000") -> list[list[str]]:
    response = http.get(f"/{compilation}/snaptron", params={"regions": regions})
    assert response.status_code == 200, response.text
    return [line.split("\t") for line in response.text.splitlines()[1:]]


def registry(http: httpx.Client) -> dict:
    body = http.get("/snaptron/registry").content
    assert body.startswith(b"200 OK\n")
    return json.loads(body[7:])


def wait_for_registry(http: httpx.Client, names: set[str]) -> dict:
    """The registry once it lists exactly `names` (a worker re-reads what the shards hold every few seconds)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while set(found := registry(http)) != names:
        assert time.monotonic() < deadline, f"the registry lists {sorted(found)}, expected {sorted(names)}"
        time.sleep(0.2)
    return found


def test_the_same_chromosome_in_two_compilations_answers_each_its_own_rows_and_label(http):
    gtex, tcga = rows(http, "gtex"), rows(http, "tcga")
    assert len(gtex) == 40 and len(tcga) == 25
    assert {row[0] for row in gtex} == {"GTEx:I"} and {row[0] for row in tcga} == {"TCGA:I"}
    for found, name in ((gtex, "gtex"), (tcga, "tcga")):
        rail_ids = {int(entry.split(":")[0]) for row in found for entry in row[12].strip(",").split(",")}
        assert rail_ids <= set(range(RAIL_IDS[name], RAIL_IDS[name] + 3)), name
    samples = http.get("/tcga/samples", params={"all": "1"}).text.splitlines()
    assert samples[0].split("\t") == ["rail_id", FIELDS["tcga"][0]] and samples[1] == "59761\ttcga-tissue"


def test_readyz_counts_each_compilations_rows_and_sequences_on_each_shard(deployment, http):
    """gtex holds 40 rows and tcga 25 on each of chr1, chr2 and chrX: each shard's readiness says which is whose."""
    plan = deployment[0].plan()
    for shard in http.get("/readyz").json()["shards"]:
        held = [chromosome for chromosome in CHROMOSOMES if plan.shard_for(chromosome) == shard["shard"]]
        assert shard["compilations"] == {"gtex": {"rows": 40 * len(held), "sequences_loaded": held},
                                         "tcga": {"rows": 25 * len(held), "sequences_loaded": held}}
        assert (shard["rows"], shard["sequences_loaded"]) == (65 * len(held), held)


def test_the_registry_lists_the_loaded_compilations_each_with_its_own_fields(http):
    found = wait_for_registry(http, {"gtex", "tcga"})
    for name in ("gtex", "tcga"):
        assert found[name] == {"rail_id": "i", FIELDS[name][0]: FIELDS[name][1], "all": "t"}


def test_another_name_is_a_404_listing_the_compilations_served(http):
    response = http.get("/gtexv2/snaptron", params={"regions": "chr1:1-100"})
    assert response.status_code == 404
    assert response.text == "#ERROR 404 no compilation 'gtexv2' here; this server has gtex, tcga\n"


def test_the_page_shows_any_compilation_served(http):
    assert '"compilation": "gtex"' in http.get("/").text   # the first configured
    assert '"compilation": "tcga"' in http.get("/", params={"compilation": "tcga"}).text
    assert http.get("/", params={"compilation": "nope"}).status_code == 404


def test_the_loader_must_be_told_which_compilation_when_several_are_configured(deployment, capsys):
    _, outputs, root = deployment
    junctions, _ = compilation_files(root, "gtex", 2)
    assert load([str(junctions), "--outputs", str(outputs), "--quiet"]) == 2
    assert capsys.readouterr().err == ("usage error: this deployment serves 2 compilations (gtex, tcga): say which "
                                       "one with --compilation NAME\n")


def test_reloading_one_compilation_under_load_leaves_the_other_answering_unchanged(deployment, http):
    """Readers of gtex, in threads, for the whole of two tcga reloads: no error, no changed byte."""
    environment, outputs, root = deployment
    expected = http.get("/gtex/snaptron", params={"regions": "chr1:1-100000,chrX:1-100000"}).content
    errors: list[str] = []
    answers = [0]
    stop = threading.Event()

    def read() -> None:
        with httpx.Client(base_url=environment.api_url, timeout=30) as client:
            for _ in range(2000):
                if stop.is_set():
                    return
                response = client.get("/gtex/snaptron", params={"regions": "chr1:1-100000,chrX:1-100000"})
                if response.status_code != 200 or response.content != expected:
                    errors.append(f"{response.status_code}: {response.text[:200]}")
                answers[0] += 1

    readers = [threading.Thread(target=read) for _ in range(4)]
    for reader in readers:
        reader.start()
    try:
        for first_id in (1000, 2000):
            junctions, samples = compilation_files(root, "tcga", 30, first_id)
            assert load([str(junctions), "--compilation", "tcga", "--samples", str(samples),
                         "--outputs", str(outputs), "--quiet", "--rejects", str(root / "tcga.rejects")]) == 0
    finally:
        stop.set()
        for reader in readers:
            reader.join(WAIT_SECONDS)
    assert not errors and answers[0] >= 8, (answers, errors[:3])
    tcga = rows(http, "tcga")
    assert len(tcga) == 30 and int(tcga[0][1]) >= 2000 and {row[0] for row in tcga} == {"TCGA:I"}


def test_a_compilation_loaded_without_being_configured_is_served_and_dropped_alone(deployment, http, capsys,
                                                                                   monkeypatch):
    environment, outputs, root = deployment
    junctions, samples = compilation_files(root, "srav2", 10)
    assert load([str(junctions), "--compilation", "srav2", "--samples", str(samples), "--outputs", str(outputs),
                 "--quiet", "--rejects", str(root / "srav2.rejects")]) == 0
    found = wait_for_registry(http, {"gtex", "tcga", "srav2"})
    assert found["srav2"] == {"rail_id": "i", "spots": "i", "all": "t"}
    assert {row[0] for row in rows(http, "srav2")} == {"SRAv2:I"}
    gtex_before = rows(http, "gtex")
    capsys.readouterr()
    # On a terminal, --drop asks for the name; anything else changes nothing.
    with monkeypatch.context() as terminal:
        terminal.setattr(sys.stdin, "isatty", lambda: True)
        asked = []
        terminal.setattr("builtins.input", lambda prompt: asked.append(prompt) or "srav")
        assert load(["--drop", "srav2", "--outputs", str(outputs)]) == 1
    assert asked == ["remove compilation srav2 and everything loaded into it from all 2 shards? "
                     "type its name to confirm: "]
    assert capsys.readouterr().err == "not dropped: 'srav' is not 'srav2'\n"
    # Not on a terminal: --drop needs --yes, and changes nothing without it.
    assert load(["--drop", "srav2", "--outputs", str(outputs)]) == 2
    assert "add --yes" in capsys.readouterr().err
    assert {row[0] for row in rows(http, "srav2")} == {"SRAv2:I"}
    assert load(["--drop", "srav2", "--yes", "--outputs", str(outputs)]) == 0
    assert capsys.readouterr().out.endswith("dropped compilation srav2 from 2 shards\n")
    assert load(["--drop", "srav2", "--yes", "--outputs", str(outputs)]) == 0     # again: nothing left to drop
    assert capsys.readouterr().out.endswith("nothing to drop: no shard holds compilation srav2\n")
    wait_for_registry(http, {"gtex", "tcga"})
    response = http.get("/srav2/snaptron", params={"regions": "chr1:1-100000"})
    assert response.status_code == 404   # "no longer there", from a worker that listed it a moment ago
    time.sleep(SERVED_SECONDS)
    response = http.get("/srav2/snaptron", params={"regions": "chr1:1-100000"})
    assert response.status_code == 404 and "this server has gtex, tcga" in response.text
    assert rows(http, "gtex") == gtex_before
    schemas = query_all_shards(environment, "SELECT nspname FROM pg_namespace WHERE nspname IN ('gtex', 'tcga', 'srav2')"
                               " ORDER BY 1", compilation="gtex")
    assert all(found == [("gtex",), ("tcga",)] for found in schemas.values())


def test_a_load_left_prepared_holds_only_its_own_compilation_and_is_recovered_alone(deployment, http, capsys):
    """A tcga loader stopped after its first PREPARE: gtex reads and loads go on; --recover rolls tcga back."""
    environment, outputs, root = deployment
    before = rows(http, "tcga")
    junctions, samples = compilation_files(root, "tcga", 5, 9000)
    loader = subprocess.Popen([sys.executable, "-m", "loaders", str(junctions), "--compilation", "tcga",
                               "--outputs", str(outputs), "--quiet", "--jobs", "1"],
                              env=dict(os.environ, SNAPTHUNDER_LOADER_STOP_AT="prepare:1"), cwd=root,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while Path(f"/proc/{loader.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "T":
            assert loader.poll() is None and time.monotonic() < deadline, loader.communicate()
            time.sleep(0.02)
        started = time.monotonic()
        assert len(rows(http, "gtex")) == 40 and time.monotonic() - started < 2   # not behind tcga's locks
        gtex, _ = compilation_files(root, "gtex", 40)
        assert load([str(gtex), "--compilation", "gtex", "--outputs", str(outputs), "--quiet",
                     "--rejects", str(root / "gtex.rejects")]) == 0   # gtex's own lock, gtex's own recovery
        assert "recovered" not in capsys.readouterr().out
    finally:
        loader.send_signal(signal.SIGKILL)
        loader.communicate(timeout=WAIT_SECONDS)
    assert load(["--recover", "--outputs", str(outputs)]) == 0
    output = capsys.readouterr().out
    assert output.startswith("recovered load ") and " of tcga: rolled it back on shard-" in output
    assert rows(http, "tcga") == before
