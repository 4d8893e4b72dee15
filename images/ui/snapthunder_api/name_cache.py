"""A worker's gene names: each compilation's looked-up loci, kept with the load they came from.

Looking a gene name up is the one round trip a gene query makes before its
rows (0.29 ms inside a request), and it made a GENCODE-id query 0.37 ms slower
than the same span by coordinates (1.8 against 1.4 ms): 1.27x, against issue
10's 1.1x (README, "Names: sfilter over 316,000 samples, gene names and
GENCODE ids"). A request whose names are all here skips the lookup, and each
of its statements carries the load the names came from (Query.cached_names_load,
checked on the shard by `last_load_is`, 04-query.sql): gene names change only
by a load, and a load records its id on every shard in the same transaction,
so a statement answers only while the cached loci are still the shard's. A
refused statement (SQLSTATE SN001, errors.NamesChanged) before the answer has
started empties the cache and the request runs once more with its names looked
up (names.rechecked); one refused after it has started (a later chromosome or
part) ends the answer with `#ERROR 503`, and the next request is refused before
its answer and so runs again. UCSC links (return_format=2) read no rows to check
and never use the cache.

The cache is bounded (MOST names, then it starts again empty) and holds one
load at a time: names kept from an earlier load are dropped when a lookup
reports a newer one.
"""

from __future__ import annotations

import threading
from typing import Iterable, Mapping

from snapthunder.query import Region

# Names kept per compilation and worker (a GENCODE release has ~62,000 genes; one entry is ~1 kB at most).
MOST = 10_000


class GeneNameCache:
    """One compilation's gene names → loci, all from one load (`load`); shared by a worker's request threads."""

    def __init__(self, most: int = MOST) -> None:
        self._lock = threading.Lock()
        self._most = most
        self._load: str | None = None
        self._loci: dict[str, list[Region]] = {}

    def held(self, names: Iterable[str]) -> tuple[str, dict[str, list[Region]]] | None:
        """(load, name → loci) when every name is here; None otherwise."""
        with self._lock:
            try:
                return self._load, {name: self._loci[name] for name in names}
            except KeyError:
                return None

    def keep(self, load: str, loci: Mapping[str, list[Region]]) -> None:
        """Names just looked up from a shard whose last load was `load`."""
        with self._lock:
            if load != self._load or len(self._loci.keys() | loci.keys()) > self._most:
                self._load, self._loci = load, {}
            self._loci.update(loci)

    def forget(self) -> None:
        with self._lock:
            self._load, self._loci = None, {}
