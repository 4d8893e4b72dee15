"""The genes workload: `/genes` on gene-sized regions against `/snaptron` on the same regions, side by side.

Issue 10 asks for `/genes` on a gene-sized region to be as fast as
`/snaptron` on it. The regions are the generated compilation's genes
(synthetic_genes.py: 300 genes of 10-60 kb over chr1:1-25 Mb, where the
paper's junctions are dense), REGIONS of them spread evenly, each asked by
coordinates through the API over one kept-alive connection per endpoint.
One run of a contender asks every region once; contenders alternate round
by round (measure.side_by_side), and the figure is the median run divided by
the regions: milliseconds per request. The answers differ in kind (a gene
row carries thousands of samples, a gene's junctions are a few dozen rows),
so rows and bytes per request are reported beside the times.
"""

from __future__ import annotations

import dataclasses

from bench.api_client import ApiClient
from bench.compilation import Compilation
from bench.measure import progress_bar, side_by_side
from snapthunder.features import GENES, JUNCTIONS
from snapthunder.gene_loci import loci
from snapthunder.layout import GENES_FILE

REGIONS = 30
ENDPOINTS = (GENES.name, JUNCTIONS.name)


@dataclasses.dataclass(frozen=True)
class GenesRow:
    endpoint: str
    regions: int
    median_ms_per_request: float
    rows_per_request: float
    bytes_per_request: float
    ratio_to_snaptron: float


def gene_regions(compilation: Compilation, count: int = REGIONS) -> list[str]:
    """`count` of the compilation's one-locus genes as `chr:start-end`, spread evenly over its refFlat table."""
    transcripts: dict[str, list[tuple[str, int, int]]] = {}
    with (compilation.directory / GENES_FILE).open() as handle:
        for line in handle:
            symbol, _, chromosome, _, start, end = line.split("\t")[:6]
            transcripts.setdefault(symbol, []).append((chromosome, int(start) + 1, int(end)))
    spans = [found[0] for found in map(loci, transcripts.values()) if len(found) == 1]
    step = max(len(spans) // count, 1)
    return [str(span) for span in spans[::step][:count]]


def run(api_url: str | None, compilation_name: str, compilation: Compilation, runs: int,
        progress: bool) -> list[GenesRow]:
    """Both endpoints on the same gene regions, interleaved; one row per endpoint (none without an API)."""
    if api_url is None:
        return []
    regions = gene_regions(compilation)
    clients = {endpoint: ApiClient(api_url, compilation_name, endpoint) for endpoint in ENDPOINTS}

    def contender(client: ApiClient):
        def ask_every_region() -> tuple[int, int]:
            answers = [client.snaptron({"regions": region}) for region in regions]
            return sum(answer.data_lines for answer in answers), sum(answer.body_bytes for answer in answers)
        return ask_every_region

    try:
        with progress_bar((runs + 1) * len(ENDPOINTS), "genes vs snaptron", progress) as bar:
            timings = side_by_side({endpoint: contender(client) for endpoint, client in clients.items()}, runs, bar)
    finally:
        for client in clients.values():
            client.close()
    snaptron_median = timings[JUNCTIONS.name].median
    return [GenesRow(endpoint, len(regions), timing.median / len(regions) * 1000, timing.result[0] / len(regions),
                     timing.result[1] / len(regions), timing.median / snaptron_median)
            for endpoint, timing in timings.items()]
