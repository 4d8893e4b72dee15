"""The report's figures, drawn as PNG files with matplotlib's Agg renderer.

Figures are built with `matplotlib.figure.Figure`, not pyplot: no global
backend or figure state, nothing needs a display, nothing needs closing.

paper.png: median time against window end, one panel per query shape, one line
per peer, log scale (the peers differ by orders of magnitude). service.png:
latency percentiles and throughput against concurrent clients. load.png: rows/s
against shard count with the two floors as lines, and rows/s against input size.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from bench.load import LOADER, RAW_COPY, RAW_COPY_QUERYABLE, LoadRow
from bench.paper import PaperRow
from bench.queries import SHAPES
from bench.service import ServiceRow

DPI = 110


def paper_plot(rows: list[PaperRow], labels: dict[str, str], path: Path) -> None:
    figure = Figure(figsize=(11, 8))
    axes = figure.subplots(2, 2, sharex=True)
    for axis, shape in zip(axes.flat, SHAPES):
        for peer, label in labels.items():
            points = sorted((row.window_mb, row.median_seconds) for row in rows if row.shape == shape and row.peer == peer)
            if points:
                axis.plot(*zip(*points), marker="o", markersize=3, label=label,
                          linestyle="--" if peer == "floor" else "-")
        axis.set_yscale("log")
        axis.set_title(shape)
        axis.set_xlabel("window end (Mb)")
        axis.set_ylabel("median seconds (log)")
        axis.grid(True, which="both", alpha=0.3)
    axes.flat[0].legend(fontsize=7)
    _save(figure, "paper: chr1:1–E, median of the runs", path)


def service_plot(rows: list[ServiceRow], path: Path) -> None:
    figure = Figure(figsize=(11, 4.5))
    latency, throughput = figure.subplots(1, 2)
    for server in sorted({row.server for row in rows}):
        mine = sorted((row for row in rows if row.server == server), key=lambda row: row.clients)
        clients = [row.clients for row in mine]
        for percentile, style in (("p50_ms", "-"), ("p95_ms", "--"), ("p99_ms", ":")):
            latency.plot(clients, [getattr(row, percentile) for row in mine], linestyle=style, marker="o",
                         label=f"{server} {percentile[:3]}")
        throughput.plot(clients, [row.requests_per_second for row in mine], marker="o", label=server)
    latency.set(xscale="log", yscale="log", xlabel="concurrent clients", ylabel="latency (ms, log)")
    throughput.set(xscale="log", xlabel="concurrent clients", ylabel="requests/s")
    for axis in (latency, throughput):
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7)
    _save(figure, "service: closed loop through the API", path)


def load_plot(rows: list[LoadRow], path: Path) -> None:
    figure = Figure(figsize=(11, 4.5))
    by_shards, by_size = figure.subplots(1, 2)
    whole = [row for row in rows if row.fraction == 1.0]
    loader = sorted((row.shards, row.rows_per_second) for row in whole if row.contender == LOADER)
    by_shards.plot(*zip(*loader), marker="o", label="loader (to queryable)")
    for contender, style in ((RAW_COPY, "--"), (RAW_COPY_QUERYABLE, ":")):
        for row in whole:
            if row.contender == contender:
                by_shards.axhline(row.rows_per_second, linestyle=style, color="grey", label=f"floor: {contender}")
    by_shards.set(xlabel="shards", ylabel="rows/s", xticks=[shards for shards, _ in loader], ylim=(0, None))
    for contender, shards in sorted({(row.contender, row.shards) for row in rows}):
        points = sorted((row.rows, row.rows_per_second) for row in rows
                        if row.contender == contender and row.shards == shards)
        label = f"loader, {shards} shard{'s' * (shards > 1)}" if contender == LOADER else f"floor: {contender}"
        by_size.plot(*zip(*points), marker="o", label=label)
    by_size.set(xlabel="rows in the input (¼, ½, 1× the file)", ylabel="rows/s", ylim=(0, None))
    for axis in (by_shards, by_size):
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=7)
    _save(figure, "load: rows/s, median of the runs", path)


def _save(figure: Figure, title: str, path: Path) -> None:
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
