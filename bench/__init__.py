"""`python -m bench`: the paper's table, service load and load speed, measured side by side.

Every workload runs its contenders in interleaved rounds on the same data in one
process run, so the ratios it reports mean something on a noisy machine; the
results (CSV, PNG, report.md) land in one directory per run.
"""


class BenchError(Exception):
    """The benchmark cannot measure something meaningful; the message says why and what to do."""
