"""Session fixtures of the API tests, and the reference evaluator their answers are checked against.

Test modules load this with `pytest_plugins = ["tests.api_fixtures"]`, so the
session fixtures exist once however many modules use them:

* `api_dataset`: a generated GTEx-like compilation (scale 0.2: ~300 k
  junctions, ~124 k of them in chr1:1-25 Mb) and its `Reference`.
* `api_environment`: its own four real shards with the API (real nginx and gunicorn, as in the UI pod)
  on loopback, loaded with that compilation; stopped at the end, whatever
  happened. It is separate from tests/conftest.py's `local_environment`,
  which other tests empty at will.
* `api_app` / `client`: the app in-process, against the same shards.

`random_query` makes query strings that mix everything the language offers;
`expected_tsv` is the reference's whole answer to one.

`Reference` answers a parsed query in plain Python over the generated file's
lines, the way docs/API.md defines it, with no SQL and no shared code beyond
the parser; the API must give exactly its rows, in its order.
"""

from __future__ import annotations

import dataclasses
import gzip
import operator
import random
import shutil
from bisect import bisect_left, bisect_right
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

import pytest

from loaders.cli import main as load
from snapthunder import localenv
from snapthunder.endpoints import Endpoints
from snapthunder.junctions import COLUMNS
from snapthunder import query as query_language
from snapthunder.query import Query, RangeFilter, Selection
from snapthunder.synthetic import generate
from snapthunder_api import create_app
from tests.conftest import scratch_directory

SCALE = 0.2
COMPILATION = "gtex"
DATA_SOURCE = "GTEx:I"   # Snaptron's own spelling of gtex's rows
INTEGER_COLUMNS = {"snaptron_id", "start", "end", "length", "samples_count", "coverage_sum", "source_dataset_id"}
FLOAT_COLUMNS = {"coverage_avg", "coverage_median"}
COMPARISONS = {"=": operator.eq, "<>": operator.ne, ">=": operator.ge, "<=": operator.le,
               ">": operator.gt, "<": operator.lt}


class Junction:
    """One line of the generated file: its text fields by column name, and its sort key."""

    __slots__ = ("fields", "key")

    def __init__(self, fields: dict[str, str]) -> None:
        self.fields = fields
        self.key = (fields["chromosome"], int(fields["start"]), int(fields["end"]))


class Reference:
    """Snaptron's semantics over the generated rows, in plain Python."""

    def __init__(self, junctions: list[Junction]) -> None:
        self.junctions = sorted(junctions, key=lambda junction: junction.key)
        self.by_chromosome: dict[str, list[Junction]] = {}
        for junction in self.junctions:
            self.by_chromosome.setdefault(junction.key[0], []).append(junction)
        self.starts = {name: [junction.key[1] for junction in rows] for name, rows in self.by_chromosome.items()}
        self.longest = {name: max(int(j.fields["length"]) for j in rows) for name, rows in self.by_chromosome.items()}

    def lines(self, query: Query, data_source: str = DATA_SOURCE) -> list[str]:
        """The TSV lines (no header, no newline) the API must answer, in order."""
        lines = []
        for junction in self._candidates(query):
            row = self._answer(junction, query)
            if row is not None:
                lines.append("\t".join([data_source, *(row[field] for field in query.fields)]))
                if len(lines) == query.limit:
                    break
        return lines

    def _candidates(self, query: Query) -> Iterator[Junction]:
        if any(not selection.regions for selection in query.selections):
            yield from self.junctions
            return
        chosen: dict[tuple, Junction] = {}
        for selection in query.selections:
            for region in selection.regions:
                rows, starts = self.by_chromosome.get(region.chromosome, []), self.starts.get(region.chromosome, [])
                low = bisect_left(starts, region.start - self.longest.get(region.chromosome, 0))
                for junction in rows[low:bisect_right(starts, region.end)]:
                    chosen[junction.key] = junction
        yield from sorted(chosen.values(), key=lambda junction: junction.key)

    def _answer(self, junction: Junction, query: Query) -> dict[str, str] | None:
        """The row's values (projected on sids) if some selection takes it."""
        selections = [selection for selection in query.selections if _placed(junction, selection)]
        if not selections:
            return None
        values = _project(junction.fields, set(query.sids)) if query.sids else junction.fields
        if values is None:
            return None
        if any(all(_passes(values, rule) for rule in selection.filters) for selection in selections):
            return values
        return None


def _project(values: dict[str, str], wanted: set[int]) -> dict[str, str] | None:
    if not any(f",{sid}:" in values["samples"] for sid in wanted):
        return None
    kept = [item for item in values["samples"][1:].split(",") if int(item.split(":")[0]) in wanted]
    if not kept:
        return None
    counts = sorted(int(item.split(":")[1]) for item in kept)
    middle = len(counts) // 2
    median = counts[middle] if len(counts) % 2 else (counts[middle - 1] + counts[middle]) / 2
    return {**values, "samples": "," + ",".join(kept), "samples_count": str(len(kept)),
            "coverage_sum": str(sum(counts)), "coverage_avg": _python2_str(sum(counts) / len(counts)),
            "coverage_median": _python2_str(median)}


def _python2_str(value: float) -> str:
    """Python 2's str() of a float: how Snaptron prints the statistics a projection recomputes."""
    text = "%.12g" % value
    return text if "." in text or "e" in text else text + ".0"


def _placed(junction: Junction, selection: Selection) -> bool:
    """The selection's regions (with its modifiers) and ids take this junction."""
    chromosome, start, end = junction.key
    if selection.regions and not any(
            region.chromosome == chromosome and end >= region.start and start <= region.end
            and (not selection.contains or (start >= region.start and end <= region.end))
            and (not selection.exact or (start == region.start and end == region.end))
            and (selection.either != 1 or start >= region.start)
            and (selection.either != 2 or end <= region.end)
            for region in selection.regions):
        return False
    return not selection.ids or int(junction.fields["snaptron_id"]) in selection.ids


def _passes(values: dict[str, str], rule: RangeFilter) -> bool:
    text = values[rule.field]
    if rule.field in ("left_annotated", "right_annotated"):
        annotated = text != "0"
        return annotated == bool(rule.value) if rule.operator == "=" else annotated != bool(rule.value)
    value = text if rule.field == "strand" else (float(text) if rule.field in FLOAT_COLUMNS else int(text))
    return COMPARISONS[rule.operator](value, rule.value)


def typed(field: str, text: str) -> int | float | str:
    """A TSV value as the JSON form carries it."""
    if field in INTEGER_COLUMNS:
        return int(text)
    return float(text) if field in FLOAT_COLUMNS else text


CHROMOSOMES = ("chr1", "chr1", "chr2", "chr10", "chr21", "chrX", "chrM", "chr1_KI270706v1_random",
               "chrUn_GL000220v1", "chrEBV")
FILTERS = {"length": (">:", "<:", ">", "<", ":", "!:"), "samples_count": (">:", "<:", ">", "<", ":", "!:"),
           "coverage_sum": (">:", "<", "!:"), "coverage_avg": (">:", "<:", ":"), "coverage_median": (">", "<:"),
           "strand": (":", "!:"), "annotated": (":", "!:"), "left_annotated": (":", "!:"),
           "right_annotated": (":", "!:")}


def expected_tsv(reference: Reference, text: str) -> str:
    """The whole TSV answer (header included) the API must give for a query string."""
    query = query_language.parse(query_language.split_query_string(text), 10_000)
    lines = reference.lines(query)
    header = ["\t".join(query.output_columns)] if query.header else []
    return "".join(line + "\n" for line in header + lines)


def random_query(generator: random.Random, reference: Reference) -> str:
    """A query string mixing what the language offers, aimed at rows that exist."""
    junction = generator.choice(reference.junctions).fields
    parts = []
    if generator.random() < 0.92:
        regions = []
        for _ in range(generator.choice((1, 1, 1, 2, 3))):
            chromosome = generator.choice(CHROMOSOMES + (junction["chromosome"],) * 3)
            rows = reference.by_chromosome.get(chromosome) or reference.by_chromosome["chr1"]
            anchor = generator.choice(rows).fields
            width = generator.choice((1_000, 10_000, 100_000))
            start = max(1, int(anchor["start"]) - generator.randrange(width))
            regions.append(f"{anchor['chromosome']}:{start}-{start + width}")
        mode = generator.choice(("", "", "contains=1", "exact=1", "either=1", "either=2", "contains=1&either=2"))
        if mode == "exact=1":
            regions[0] = f"{junction['chromosome']}:{junction['start']}-{junction['end']}"
        parts += ["regions=" + ",".join(regions)] + ([mode] if mode else [])
    for _ in range(generator.choice((0, 1, 1, 2))):
        field = generator.choice(list(FILTERS))
        operator = generator.choice(FILTERS[field])
        if field == "strand":
            value = generator.choice("+-?")
        elif field in ("annotated", "left_annotated", "right_annotated"):
            value = generator.choice("01")
        else:
            value = generator.choice(reference.junctions).fields[field]
        parts.append("rfilter=" + quote(f"{field}{operator}{value}", safe=":<>!"))
    if not parts or not parts[0].startswith("regions="):
        parts.insert(0, f"rfilter=samples_count>:{generator.choice((8000, 9000, 9400))}")
    if generator.random() < 0.25:
        samples = [int(item.split(":")[0]) for item in junction["samples"][1:].split(",")]
        chosen = generator.sample(samples, min(len(samples), generator.choice((1, 3, 30))))
        parts.append("sids=" + ",".join(map(str, chosen + [generator.randrange(9700)])))
    if generator.random() < 0.1:
        parts.append(f"ids={junction['snaptron_id']},{generator.randrange(300_000)}")
    if generator.random() < 0.25:
        parts.append("fields=" + ",".join(generator.sample(COLUMNS, generator.randrange(1, 6))))
    if generator.random() < 0.2:
        parts.append(f"limit={generator.choice((1, 5, 50))}")
    if generator.random() < 0.1:
        parts.append("header=0")
    return "&".join(parts)


@dataclasses.dataclass(frozen=True)
class Dataset:
    junctions_path: Path
    samples_path: Path
    reference: Reference
    sample_lines: dict[int, str]
    samples_header: str


@pytest.fixture(scope="session")
def api_dataset() -> Iterator[Dataset]:
    directory = scratch_directory("snapthunder-api-data-")
    try:
        generated = generate(directory, scale=SCALE)
        with gzip.open(generated.junctions_path, "rt") as handle:
            junctions = [Junction(dict(zip(COLUMNS, line.rstrip("\n").split("\t")))) for line in handle]
        header, *lines = generated.samples_path.read_text().splitlines()
        sample_lines = {int(line.split("\t", 1)[0]): line for line in lines}
        yield Dataset(generated.junctions_path, generated.samples_path, Reference(junctions), sample_lines, header)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def api_environment(api_dataset: Dataset) -> Iterator[Endpoints]:
    """Four loaded shards and the real API (nginx in front of gunicorn) serving them; `.extra['outputs']` is the document's path."""
    root = scratch_directory("snapthunder-api-")
    outputs = root / "endpoints.json"
    environment = localenv.up(shards=4, outputs=outputs, data_dir=root / "data", compilations=(COMPILATION,),
                              durable=False, start_api=True)
    try:
        status = load([str(api_dataset.junctions_path), "--outputs", str(outputs), "--samples",
                       str(api_dataset.samples_path), "--rejects", str(root / "rejects.tsv"), "--quiet"])
        assert status == 0, "the generated compilation must load"
        yield dataclasses.replace(environment, extra={**environment.extra, "outputs": outputs})
    finally:
        localenv.down(outputs)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def api_app(api_environment: Endpoints):
    app = create_app({"endpoints": str(api_environment.extra["outputs"])})
    yield app
    app.extensions["snapthunder"].close()


@pytest.fixture
def client(api_app):
    return api_app.test_client()
