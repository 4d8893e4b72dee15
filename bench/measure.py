"""Timing contenders side by side: interleaved rounds, a warm-up, medians.

On a noisy two-core machine a burst of background work lasting a few seconds
would land on every run of one contender if each ran its runs in a row; run in
rounds (every contender once per round, the starting contender rotating), the
burst lands on all of them alike and the ratios between medians stay honest.
The first round is a warm-up (caches, connections, plans) and is not kept.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import time
from typing import Callable, Mapping

from tqdm import tqdm

MINIMUM_RUNS = 5


@dataclasses.dataclass(frozen=True)
class Timing:
    """The kept runs of one contender and what its last run returned (rows, a count, a summary)."""

    seconds: tuple[float, ...]
    result: object

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def side_by_side(contenders: Mapping[str, Callable[[], object]], runs: int, progress: tqdm | None = None
                 ) -> dict[str, Timing]:
    """Run every contender once per round, for a warm-up round and then `runs` rounds."""
    names = list(contenders)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    results: dict[str, object] = {}
    for round_number in range(runs + 1):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter()
            results[name] = contenders[name]()
            elapsed = time.perf_counter() - started
            if round_number > 0:
                seconds[name].append(elapsed)
            if progress is not None:
                progress.update()
    return {name: Timing(tuple(seconds[name]), results[name]) for name in names}


def progress_bar(total: int, description: str, enabled: bool) -> tqdm:
    """A bar on stderr when it is a terminal (the caller decides), silent otherwise."""
    return tqdm(total=total, desc=description, unit="run", disable=not enabled, file=sys.stderr,
                dynamic_ncols=True, mininterval=0.5, leave=False)
