"""Loaders: stream a Snaptron `junctions.bgz` (and `samples.tsv`) into the shards.

`python -m loaders FILE --outputs PATH` (or `--stack NAME`): read → check →
route by the shard plan → COPY into every shard at once, atomically per shard.
"""
