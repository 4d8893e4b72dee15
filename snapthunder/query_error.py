"""The query language's error, and the two helpers every parser of it raises through.

The API turns a QueryError into a 400 naming the parameter at fault, before
any row is sent; query.py, filters.py, posted_queries.py, gene_loci.py and
sample_search.py all raise it, so it lives apart from any one of them.
"""

from __future__ import annotations

import re


class QueryError(ValueError):
    """A request the language does not allow; `parameter` names the part at fault."""

    def __init__(self, parameter: str, problem: str) -> None:
        super().__init__(f"{parameter}: {problem}")
        self.parameter = parameter
        self.problem = problem


def checked_number(text: str, pattern: re.Pattern, parameter: str, meaning: str) -> int:
    if not pattern.fullmatch(text):
        raise QueryError(parameter, f"{shown(text)} is not {meaning}")
    return int(text)


def shown(text: str) -> str:
    """User input quoted for an error message: repr keeps it on one printable line."""
    return repr(text[:60] + ("…" if len(text) > 60 else ""))
