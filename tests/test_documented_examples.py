"""Every curl example of README.md and docs/API.md answers with rows on the demo's data.

The demo's data is the full-scale generated compilation (1.5 M junctions,
9,700 samples, 300 genes) in four shards behind the real API, as `make demo` leaves it;
each example runs in bash exactly as documented (tests/documented_examples.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest

from bench.compilation import FULL_SCALE
from loaders.cli import main as load
from snapthunder import localenv
from snapthunder.synthetic import generate
from tests.conftest import scratch_directory
from tests.documented_examples import Example, examples, has_rows, run

EXAMPLES = examples()


@pytest.fixture(scope="module")
def demo_api() -> Iterator[str]:
    """The API over the demo's compilation, loaded into four fresh shards; its URL."""
    root = scratch_directory("snapthunder-examples-")
    outputs = root / "endpoints.json"
    try:
        compilation = generate(root / "compilation", scale=FULL_SCALE)
        environment = localenv.up(shards=4, outputs=outputs, data_dir=root / "data", durable=False)
        assert load([str(compilation.junctions_path.parent), "--outputs", str(outputs),
                     "--rejects", str(root / "rejects.tsv"), "--quiet"]) == 0     # as the demo loads it
        yield environment.api_url
    finally:
        localenv.down(outputs)
        shutil.rmtree(root, ignore_errors=True)


def test_the_documents_have_their_examples():
    by_document = {document: [e for e in EXAMPLES if e.document == document] for document in ("README.md", "docs/API.md")}
    assert len(by_document["README.md"]) >= 5 and len(by_document["docs/API.md"]) >= 20
    assert any("\n" in example.command for example in EXAMPLES), "continued lines are one example"
    assert all(example.command.startswith("curl ") for example in EXAMPLES)


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda example: f"{example.document}:{example.line}")
def test_every_documented_example_answers_with_rows(example: Example, demo_api: str, tmp_path: Path):
    assert has_rows(run(example, demo_api, tmp_path)), f"{example} answered no rows on the demo's data"


def test_a_header_only_answer_and_a_zero_count_are_not_rows():
    assert not has_rows("DataSource:Type\tsnaptron_id\n")
    assert not has_rows("DataSource:Type\tcount\n0\n")
    assert not has_rows('{"fields": ["snaptron_id"], "rows": [], "row_count": 0}')
    assert has_rows("DataSource:Type\tcount\n3\n") and has_rows("DataSource:Type\nGTEx:I\t5\n")
