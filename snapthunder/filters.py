"""The clauses of `rfilter=` (on junction columns) and `sfilter=` (on sample fields), checked for form.

They are the query language's only comparisons: each becomes a frozen
RangeFilter or SampleFilter that statements.py and sample_search.py turn
into SQL. rfilter's fields and values are checked here in full, since the
junction columns are fixed; sfilter's only for form, since the sample
fields and their types are the loaded registry's (sample_search.py).
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Mapping

from snapthunder.query_error import QueryError, checked_number, shown

# Snaptron's rfilter operators, longest first so that `>:` is not read as `>`.
OPERATORS = {">:": ">=", "<:": "<=", "!:": "<>", ":": "=", ">": ">", "<": "<"}
# sfilter's: the same but `!:` (Snaptron reads it as `:`, so it is refused rather than mean the opposite).
SAMPLE_OPERATORS = {name: operator for name, operator in OPERATORS.items() if name != "!:"}
# sfilter's field that searches every column of a sample's line.
ALL_FIELDS = "all"
NUMERIC_FIELDS = {"length": int, "samples_count": int, "coverage_sum": int,
                  "coverage_avg": float, "coverage_median": float}
# Compared with 0 or 1: 0 is "no annotation source", 1 "any" (the column holds 0, 1 or source codes).
ANNOTATION_FIELDS = ("annotated", "left_annotated", "right_annotated")
TEXT_FIELDS = ("strand",) + ANNOTATION_FIELDS
FILTER_FIELDS = tuple(NUMERIC_FIELDS) + TEXT_FIELDS

_SAMPLE_FILTER = re.compile(r"([^:<>!]+?)(!:|>:|<:|:|>|<)(.*)", re.DOTALL)
_FILTER = re.compile(r"([A-Za-z_]+)(" + "|".join(map(re.escape, OPERATORS)) + r")(.*)", re.DOTALL)
_INTEGER = re.compile(r"-?\d{1,18}")
_DECIMAL = re.compile(r"-?\d{1,300}(?:\.\d{0,300})?(?:[eE][-+]?\d{1,3})?")


@dataclasses.dataclass(frozen=True)
class RangeFilter:
    field: str
    operator: str      # the SQL operator: = <> >= <= > <
    value: int | float | str


@dataclasses.dataclass(frozen=True)
class SampleFilter:
    """One `sfilter=` clause, checked for form only: the field's type is the loaded registry's (sample_search.py)."""

    field: str
    operator: str      # Snaptron's: : >: <: > <
    value: str


def sample_filters(grouped: Mapping[str, list[str]], where: str) -> tuple[SampleFilter, ...]:
    """The `sfilter=` clauses (one per parameter: a phrase may hold commas), checked for form."""
    return tuple(_sample_filter(text, where + "sfilter") for text in grouped.get("sfilter", ()))


def _sample_filter(text: str, parameter: str) -> SampleFilter:
    match = _SAMPLE_FILTER.fullmatch(text.strip())
    if "\x00" in text:
        raise QueryError(parameter, f"{shown(text)} holds a NUL character, which no sample field holds")
    if match is None:
        raise QueryError(parameter, f"{shown(text)} is not field<op>value (op one of {' '.join(SAMPLE_OPERATORS)}); "
                                    f"for free text write {ALL_FIELDS}:<words>")
    field, operator, value = match.groups()
    if operator == "!:":
        raise QueryError(parameter, f"{shown(text)}: sfilter has no !: (Snaptron reads it as :); "
                                    f"use one of {' '.join(SAMPLE_OPERATORS)}")
    if not value.strip() or any(character in value for character in ":<>!"):
        raise QueryError(parameter, f"{shown(text)}: the value must be non-empty and hold none of : < > !")
    return SampleFilter(field.strip(), operator, value.strip())


def range_filter(text: str, parameter: str) -> RangeFilter:
    match = _FILTER.fullmatch(text)
    if match is None:
        raise QueryError(parameter, f"{shown(text)} is not field<op>value with op one of {' '.join(OPERATORS)}")
    field, operator, value = match.groups()
    if field not in FILTER_FIELDS:
        raise QueryError(parameter, f"unknown field {shown(field)}; filterable: {', '.join(FILTER_FIELDS)}, "
                                    "snaptron_id:id-id-…")
    kind = NUMERIC_FIELDS.get(field)
    if kind is None:
        if operator not in (":", "!:"):
            raise QueryError(parameter, f"{field} takes only : or !:, not {operator}")
        allowed = ("+", "-", "?") if field == "strand" else ("0", "1")
        if value not in allowed:
            raise QueryError(parameter, f"{field} is compared with one of {' '.join(allowed)}, not {shown(value)}")
        return RangeFilter(field, OPERATORS[operator], value if field == "strand" else int(value))
    if kind is int:
        number: int | float = checked_number(value, _INTEGER, parameter, f"a whole number for {field}")
    else:
        number = _decimal(value, parameter, field)
    return RangeFilter(field, OPERATORS[operator], number)


def _decimal(text: str, parameter: str, field: str) -> float:
    if not _DECIMAL.fullmatch(text) or not math.isfinite(value := float(text)) or abs(value) > 1e300:
        raise QueryError(parameter, f"{shown(text)} is not a number for {field}")
    return value
