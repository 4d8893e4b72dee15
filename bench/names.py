"""The names workload: sfilter over srav3h-many samples, and gene names against coordinates, through the API.

Issue 10's goals: `sfilter` over 316,000 samples (srav3h's size; 20,000 with
`--quick`) answered in
under 50 ms median, and a gene-name region within 1.1× of the same query by
coordinates. The target's shards hold their own compilation's samples (GTEx:
~9,700), so this workload builds what it measures, in the run's scratch
directory: a local environment of SHARDS shards with the real API (nginx and
gunicorn, as `make up`), loaded with the run's junctions, 316,000 generated
GTEx-like samples (synthetic_samples.py), the generated RefSeq table and
GENCODE genes; stopped when the workload ends.

* sfilter: `/samples?sfilter=…` (Snaptron's scored rows, read to the end)
  for a text word, a detailed-tissue word, a phrase over `all`, a number, an
  AND of text and number, and two selective ones (a high RIN, one sample's
  run accession); each clause's median.
* gene names: GENES symbols spread over the generated genes, each asked as
  `regions=SYMBOL`, as its locus `regions=chr1:s-e`, and as its GENCODE id
  (which means exact=1) against its span with exact=1: each pair of a gene
  interleaved round by round (bench.measure.side_by_side). The ratio is the
  median over genes of name ÷ coordinates (and id ÷ span with exact=1).
"""

from __future__ import annotations

import dataclasses
import statistics
from pathlib import Path

import numpy

from bench import BenchError
from bench.api_client import ApiClient
from bench.compilation import Compilation
from bench.measure import progress_bar, side_by_side
from loaders.gencode import GencodeFile
from loaders.genes import GenesFile
from loaders.pipeline import load_junctions
from loaders.rejects import RejectsFile
from loaders.samples import SamplesFile
from snapthunder import localenv
from snapthunder.gene_loci import loci
from snapthunder.synthetic_genes import gene_id
from snapthunder.synthetic_samples import write_samples_table

SAMPLE_TOTAL = 316_000
QUICK_SAMPLE_TOTAL = 20_000      # --quick
SHARDS = 2
COMPILATION = "gtex"
SFILTERS = ("smts:brain", "smtsd:cortex", "all:sun%20exposed", "smrin>:9.5", "smts:brain&sfilter=smrin>:8",
            "smrin>:9.98", "all:{run}")     # {run}: one sample's run accession (one match)
GENES = 12             # symbols SYNG1, SYNG26, … (every 25th of the generated 300)
GENE_STEP = 25
SAMPLES_SEED = 316


@dataclasses.dataclass(frozen=True)
class NamesRow:
    measure: str          # "sfilter" or "gene"
    query: str
    contender: str        # sfilter: "api"; gene: "name", "coordinates", "gene id", "span exact"
    rows: int
    median_ms: float
    runs: int
    samples: int          # samples the compilation held


def run(compilation: Compilation, scratch: Path, runs: int, progress: bool,
        sample_total: int = SAMPLE_TOTAL) -> list[NamesRow]:
    """Build, load and measure the workload's own environment; every server is stopped afterwards."""
    root = scratch / "names"
    root.mkdir()
    samples_path = root / "samples.tsv"
    write_samples_table(samples_path, numpy.random.default_rng(SAMPLES_SEED), sample_total)
    outputs = root / "endpoints.json"
    endpoints = localenv.up(shards=SHARDS, outputs=outputs, data_dir=root / "data", compilations=(COMPILATION,),
                            durable=False, start_api=True)
    try:
        rejects = RejectsFile(root / "samples.rejects.tsv")
        extras = [SamplesFile(str(samples_path), COMPILATION, rejects), GenesFile(str(compilation.genes_path)),
                  GencodeFile(str(compilation.gencode_path))]
        try:
            load_junctions(str(compilation.junctions_path), endpoints, rejects_path=root / "rejects.tsv",
                           samples=extras[0], genes=extras[1], annotations=extras[2:])
        finally:
            for extra in (*extras, rejects):
                extra.close()
        samples_client, client = ApiClient(endpoints.api_url, COMPILATION, "samples"), ApiClient(endpoints.api_url,
                                                                                                  COMPILATION)
        try:
            return [dataclasses.replace(row, samples=sample_total) for row in
                    _sfilter_rows(samples_client, samples_path, runs, progress)
                    + _gene_rows(client, compilation, runs, progress)]
        finally:
            samples_client.close()
            client.close()
    finally:
        localenv.down(outputs)


def _sfilter_rows(client: ApiClient, samples_path: Path, runs: int, progress: bool) -> list[NamesRow]:
    with samples_path.open() as handle:
        header, first = handle.readline().rstrip("\n").split("\t"), handle.readline().rstrip("\n").split("\t")
    run = first[header.index("run_acc")].lower()
    contenders = {text: (lambda text=text: client.query(f"sfilter={text}"))
                  for text in (clause.format(run=run) for clause in SFILTERS)}
    with progress_bar(len(contenders) * (runs + 1), "names: sfilter", progress) as bar:
        timings = side_by_side(contenders, runs, bar)
    return [NamesRow("sfilter", clause, "api", timing.result.data_lines, timing.median * 1e3, runs, 0)
            for clause, timing in timings.items()]


def _gene_rows(client: ApiClient, compilation: Compilation, runs: int, progress: bool) -> list[NamesRow]:
    transcripts: dict[str, list[tuple[str, int, int]]] = {}
    for line in compilation.genes_path.read_text().splitlines():
        cells = line.split("\t")
        transcripts.setdefault(cells[0], []).append((cells[2], int(cells[4]) + 1, int(cells[5])))
    rows = []
    with progress_bar(GENES * 4 * (runs + 1), "names: genes", progress) as bar:
        for number in range(1, GENES * GENE_STEP, GENE_STEP):
            symbol, identifier = f"SYNG{number}", gene_id(number)
            locus, = loci(transcripts[symbol])     # the generated genes are one locus each; their GENCODE span too
            queries = {"name": f"regions={symbol}", "coordinates": f"regions={locus}",
                       "gene id": f"regions={identifier}", "span exact": f"regions={locus}&exact=1"}
            # Each pair on its own. Rotating all four keeps their cyclic order, so the ~1.5 ms gene id
            # always ran right after the coordinates' 500-3,000 rows and span exact right after the
            # id: the id paid for the large answer (1.13x in one run; 1.05x in the next, in pairs).
            timings = {}
            for pair in (("name", "coordinates"), ("gene id", "span exact")):
                timings |= side_by_side({name: (lambda text=queries[name]: client.query(text)) for name in pair},
                                        runs, bar)
            if timings["name"].result.data_lines != timings["coordinates"].result.data_lines:
                raise BenchError(f"{symbol}: {timings['name'].result.data_lines} rows by name, "
                                 f"{timings['coordinates'].result.data_lines} by its locus {locus}")
            rows += [NamesRow("gene", queries[name], name, timing.result.data_lines, timing.median * 1e3, runs, 0)
                     for name, timing in timings.items()]
    return rows


def ratios(rows: list[NamesRow]) -> dict[str, float | None]:
    """Median over genes of name ÷ coordinates and gene id ÷ span exact (None without gene rows)."""
    genes = [row for row in rows if row.measure == "gene"]
    found: dict[str, float | None] = {}
    for mine, theirs in (("name", "coordinates"), ("gene id", "span exact")):
        pairs = zip([row for row in genes if row.contender == mine], [row for row in genes if row.contender == theirs])
        values = [ours.median_ms / other.median_ms for ours, other in pairs]
        found[mine] = statistics.median(values) if values else None
    return found
