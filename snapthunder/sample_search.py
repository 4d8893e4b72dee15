"""sfilter's SQL: a request's sample clauses, typed by the loaded registry, → the samples they match.

Clauses arrive checked for form (filters.SampleFilter); here they meet the
compilation's fields as the loader recorded them (`sample_field`: position,
name, Snaptron's type letter) and become conditions on the `sample` table's
derived columns (02-schema.sql), AND-ed:

* text fields (`t`, and `n` for an all-NA column) and `all`: the value's
  words, lowercased, in order and adjacent (a phrase when it has spaces).
  `all`: `words @@ phraseto_tsquery('simple', value)`, which the GIN index
  on `words` answers. A field: its cells' words, tagged with the column, are
  indexed (`sample_cell_words`, 02-schema.sql): the index finds the samples
  whose cell has every word of the value, which decides a one-word value,
  and a phrase's cell is then rechecked. A compilation whose schema predates
  that index is searched through `words` and every found line's cell
  rechecked (02-schema.sql has what that costs). Like Snaptron's standard
  Lucene index, `cortex` finds "Brain - Cortex"; unlike its whitespace
  index, case never matters, so a punctuated value (`RNA-Seq`) matches
  whatever its case.
* numeric fields (`i`, `f`): `numbers[column] <op> value` with `: >: <: > <`;
  NA and text cells never match. An integer field refuses `8.5`, as Snaptron does.

Sample groups (`sids=Brain,Liver`) are looked up in `sample_group`
(samples.groups.tsv) and unioned. Errors are QueryErrors naming the clause
or group and the fix; an unknown field or group lists the nearest names
(difflib), as snapcount's own check does for fields.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from typing import Iterable, Sequence

from psycopg2 import sql

from snapthunder.filters import ALL_FIELDS, SAMPLE_OPERATORS, SampleFilter
from snapthunder.query import SamplesRequest
from snapthunder.query_error import QueryError, shown
from snapthunder.statements import SAMPLES_HEADER_VALUE, Parameters

# PostgreSQL's text-search configuration for sample words: lowercase, no stemming, no stop words.
CONFIGURATION = "simple"
# The column /samples?sfilter= puts before each line, under Snaptron's own name for it.
SCORE_COLUMN = "Lucene TF-IDF Score"
TEXT_TYPES = ("t", "n")
NUMERIC_TYPES = ("i", "f")   # compared as numbers (numbers[column]), each such column under a btree (loaders/samples.py)
NEAR_NAMES = 3
_INTEGER = re.compile(r"[-+]?\d{1,15}")
_DECIMAL = re.compile(r"[-+]?(?:\d{1,30}(?:\.\d{0,30})?|\.\d{1,30})(?:[eE][-+]?\d{1,2})?")


@dataclasses.dataclass(frozen=True)
class SampleField:
    """A samples.tsv column as the registry lists it: 0-based position, name, type letter; and whether the
    compilation indexes its cells' words (sample_cell_words, 02-schema.sql)."""

    position: int
    name: str
    type: str
    cells_indexed: bool = False


# The loaded samples' fields, in column order, each with whether the cells' words are indexed.
FIELDS = sql.SQL("SELECT name, type, to_regclass('sample_cell_words') IS NOT NULL FROM sample_field ORDER BY position")


def sample_fields(rows: Iterable[tuple]) -> dict[str, SampleField]:
    """FIELDS' rows (or statements.REGISTRY_FIELDS': name, type), in column order → name → field."""
    return {row[0]: SampleField(position, *row) for position, row in enumerate(rows)}


GROUP_NAMES = sql.SQL("SELECT name FROM sample_group ORDER BY name")


def groups_statement(names: Sequence[str]) -> tuple[sql.Composed, dict]:
    """Each named group that exists, with its rail_ids."""
    parameters = Parameters()
    statement = sql.SQL("SELECT name, rail_ids FROM sample_group WHERE name = ANY ({}::text[])").format(
        parameters.add(list(names)))
    return statement, parameters.values


def unknown_group(name: str, known: Sequence[str], parameter: str = "sids") -> QueryError:
    """The refusal of a group name the compilation does not have, with the nearest ones it has."""
    if not known:
        return QueryError(parameter, f"unknown sample group {shown(name)}: this compilation has no sample groups "
                                     "(load its samples.groups.tsv beside samples.tsv); give rail_ids")
    near = difflib.get_close_matches(name, known, NEAR_NAMES, 0.5)
    hint = f"did you mean {', '.join(near)}?" if near else f"it has {len(known):,}, e.g. {', '.join(known[:3])}"
    return QueryError(parameter, f"unknown sample group {shown(name)}; {hint} (names are samples.groups.tsv's "
                                 "short names, case as written)")


def rail_ids_statement(filters: Sequence[SampleFilter], fields: dict[str, SampleField],
                       parameter: str = "sfilter") -> tuple[sql.Composed, dict]:
    """The rail_ids of the samples every clause matches, in order: what an sfilter projects junctions on."""
    parameters = Parameters()
    condition = _conditions(filters, fields, parameters, parameter)
    return sql.SQL("SELECT rail_id FROM sample WHERE {} ORDER BY rail_id").format(condition), parameters.values


def search_statement(request: SamplesRequest, fields: dict[str, SampleField],
                     data_source: str) -> tuple[sql.Composed, dict]:
    """`/samples?sfilter=`: Snaptron's rows `GTEx:S <score> <line>`, best score first, then by rail_id.

    The header (`DataSource:Type`, the score column, samples.tsv's names)
    comes first unless `header=0` was given; the API sends it only when a
    sample follows it (samples.py), since an sfilter that matches nothing
    answers an empty body, as Snaptron does. The score is PostgreSQL's
    ts_rank of the text clauses (1.0 for numeric clauses alone), not
    Lucene's TF-IDF: it orders the same way in spirit, with other numbers.

    What made it fast, measured on one shard of 316,000 samples
    (`smts:brain`, 25,526 lines, 2.4 MB; 78 -> 42 ms): the matches are
    sorted in a subquery, before each line gets its prefix, and the outer
    ORDER BY on the same keys costs no second sort (PostgreSQL keeps the
    subquery's order and merges the header in, which sorts first by its
    keys), where sorting the prefixed lines spilled past `work_mem`; and the
    score is rounded to 6 decimals in double precision, not numeric, and
    printed by float8's own output. For a number of at most 12 significant
    digits (every rounded rank below 10^6) that text is Python 2's `%.12g`
    at any `extra_float_digits` from -3 up (shortest form above 0, `%.15g`
    to `%.12g` below), so only a whole number needs its `.0`.
    """
    parameters = Parameters()
    condition = _conditions(request.filters, fields, parameters, "sfilter")
    texts = [_phrase(clause.value, parameters) for clause in request.filters
             if clause.field == ALL_FIELDS or fields[clause.field].type in TEXT_TYPES]
    if texts:
        rank = sql.SQL(" + ").join(sql.SQL("ts_rank(sample.words, {})").format(text) for text in texts)
        score = sql.SQL("round(({})::double precision * 1000000) / 1000000").format(rank)
        score_text = sql.SQL("CASE WHEN score = trunc(score) THEN score::text || '.0' ELSE score::text END")
    else:
        score, score_text = sql.SQL("1.0::double precision"), sql.Literal("1.0")
    statement = sql.SQL(
        "SELECT line FROM (SELECT 'Infinity'::double precision AS score, -1 AS rail_id, "
        "{} || E'\\t' || {} || E'\\t' || {} AS line WHERE {} UNION ALL "
        "SELECT score, rail_id, {} || E'\\t' || {} || E'\\t' || line FROM (SELECT sample.rail_id, sample.line, "
        "{} AS score FROM sample WHERE {} ORDER BY score DESC, sample.rail_id) AS matched"
        ") AS lines ORDER BY score DESC, rail_id").format(
        parameters.add("DataSource:Type"), parameters.add(SCORE_COLUMN), SAMPLES_HEADER_VALUE,
        parameters.add(request.header), parameters.add(data_source), score_text, score, condition)
    return statement, parameters.values


def _conditions(filters: Sequence[SampleFilter], fields: dict[str, SampleField], parameters: Parameters,
                parameter: str) -> sql.Composable:
    return sql.SQL(" AND ").join(_condition(clause, fields, parameters, parameter) for clause in filters)


def _condition(clause: SampleFilter, fields: dict[str, SampleField], parameters: Parameters,
               parameter: str) -> sql.Composable:
    if clause.field == ALL_FIELDS:
        return _text_operator(clause, parameter, sql.SQL("sample.words @@ {}").format(
            _phrase(clause.value, parameters)))
    field = fields.get(clause.field)
    if field is None:
        near = difflib.get_close_matches(clause.field, list(fields), NEAR_NAMES, 0.5)
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        raise QueryError(parameter, f"unknown sample field {shown(clause.field)}{hint} "
                                    f"(the fields are samples.tsv's columns, listed by /snaptron/registry, "
                                    f"and {ALL_FIELDS})")
    if field.type in TEXT_TYPES:
        phrase, column = _phrase(clause.value, parameters), sql.Literal(field.position + 1)
        cell = sql.SQL("to_tsvector({}, split_part(sample.line, E'\\t', {})) @@ {}").format(
            sql.Literal(CONFIGURATION), column, phrase)
        if not field.cells_indexed:
            return _text_operator(clause, parameter, sql.SQL("(sample.words @@ {} AND {})").format(phrase, cell))
        # The recheck folds away for one word (numnode 1): PostgreSQL evaluates it when planning.
        return _text_operator(clause, parameter, sql.SQL(
            "(sample_cell_words(sample.line) @@ sample_cell_query({}, {}) AND (numnode({}) = 1 OR {}))").format(
            column, parameters.add(clause.value), phrase, cell))
    return sql.SQL("sample.numbers[{}] {} {}").format(
        sql.Literal(field.position + 1), sql.SQL(SAMPLE_OPERATORS[clause.operator]),
        parameters.add(_numeric_value(clause, field, parameter)))


def _text_operator(clause: SampleFilter, parameter: str, condition: sql.Composable) -> sql.Composable:
    if clause.operator != ":":
        raise QueryError(parameter, f"{clause.field} is text: compare it with : (a word or phrase), "
                                    f"not {clause.operator}")
    return condition


def _phrase(value: str, parameters: Parameters) -> sql.Composable:
    return sql.SQL("phraseto_tsquery({}, {})").format(sql.Literal(CONFIGURATION), parameters.add(value))


def _numeric_value(clause: SampleFilter, field: SampleField, parameter: str) -> int | float:
    if field.type == "i":
        if not _INTEGER.fullmatch(clause.value):
            raise QueryError(parameter, f"{field.name} holds whole numbers: {shown(clause.value)} is not one")
        return int(clause.value)
    if not _DECIMAL.fullmatch(clause.value):
        raise QueryError(parameter, f"{field.name} holds numbers: {shown(clause.value)} is not one")
    return float(clause.value)
