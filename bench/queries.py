"""The paper's queries, once, in each language a peer speaks: SQL, Snaptron URL, a tabix scan.

Snaptron's paper benchmark asks, for windows chr1:1–E, for every
junction with `start >= 0 AND start <= E AND end <= E`, optionally with
`samples_count >= 100`, as rows or as a count. Every peer answers exactly this,
so their row counts must agree; the translations live side by side here so
that a change to one is seen next to the others.
"""

from __future__ import annotations

import dataclasses

from psycopg2 import sql

from snapthunder.synthetic_positions import CALIBRATED_CHROMOSOME, FILTER_MINIMUM_SAMPLES, PAPER_CHR1_COUNTS

CHROMOSOME = CALIBRATED_CHROMOSOME
SHAPES = ("simple", "filter", "simplecount", "filtercount")
WINDOW_STEP = 2_500_000
WINDOW_ENDS = tuple(WINDOW_STEP * number for number in range(1, 11))
PAPER_ROWS = {point.window_end: point for point in PAPER_CHR1_COUNTS if point.window_end}


@dataclasses.dataclass(frozen=True)
class PaperQuery:
    shape: str
    window_end: int

    @property
    def filtered(self) -> bool:
        return self.shape.startswith("filter")

    @property
    def counts(self) -> bool:
        return self.shape.endswith("count")

    def paper_rows(self) -> int | None:
        """The paper's row count for this window and filter, where the paper has the window."""
        point = PAPER_ROWS.get(self.window_end)
        if point is None:
            return None
        return point.filter_rows if self.filtered else point.simple_rows

    def where(self) -> sql.Composed:
        """The paper's condition; values as literals because COPY (query) cannot take parameters."""
        condition = sql.SQL('chromosome = {} AND start >= 0 AND start <= {} AND "end" <= {}').format(
            sql.Literal(CHROMOSOME), sql.Literal(self.window_end), sql.Literal(self.window_end))
        if self.filtered:
            condition += sql.SQL(" AND samples_count >= {}").format(sql.Literal(FILTER_MINIMUM_SAMPLES))
        return condition

    def statement(self, table: str) -> sql.Composed:
        """`SELECT *` or `SELECT count(*)` from `table` under the paper's condition."""
        selected = sql.SQL("count(*)") if self.counts else sql.SQL("*")
        return sql.SQL("SELECT {} FROM {} WHERE {}").format(selected, sql.Identifier(table), self.where())

    def sqlite_statement(self, table: str) -> tuple[str, tuple]:
        """The same query for SQLite, which has no psycopg2 composition: text plus parameters."""
        selected = "count(*)" if self.counts else "*"
        text = f'SELECT {selected} FROM "{table}" WHERE chromosome = ? AND start >= 0 AND start <= ? AND "end" <= ?'
        parameters: tuple = (CHROMOSOME, self.window_end, self.window_end)
        if self.filtered:
            text += " AND samples_count >= ?"
            parameters += (FILTER_MINIMUM_SAMPLES,)
        return text, parameters

    def snaptron_parameters(self) -> dict[str, str]:
        """Snaptron's URL form: `contains=1` is `start >= 1 AND end <= E` (start is never below 1)."""
        parameters = {"regions": f"{CHROMOSOME}:1-{self.window_end}", "contains": "1"}
        if self.filtered:
            parameters["rfilter"] = f"samples_count>:{FILTER_MINIMUM_SAMPLES}"
        if self.counts:
            parameters["fields"] = "rc"
        return parameters

    def keeps(self, end: int, samples_count: int) -> bool:
        """The condition on one junction found by a region scan over chr1:1–E (start <= E holds)."""
        return end <= self.window_end and (not self.filtered or samples_count >= FILTER_MINIMUM_SAMPLES)


def paper_queries(window_ends: tuple[int, ...] = WINDOW_ENDS) -> list[PaperQuery]:
    return [PaperQuery(shape, window_end) for shape in SHAPES for window_end in window_ends]
