"""The demo's step announcer (each step says what and why, a quiet step still speaks every beat) and its union."""

from __future__ import annotations

import re
import time

from demo.run import Steps
from demo.union import union


def test_each_step_says_what_and_why_and_a_long_one_says_it_still_runs(capsys):
    with Steps(beat_seconds=0.2) as steps:
        steps.begin("loading the shards (a while)", "so that the API has rows")
        time.sleep(0.75)
        steps.begin("counting", "as a client would")
    lines = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"==> \[ +0 s\] loading the shards \(a while\)", lines[0])
    assert lines[1] == "    why: so that the API has rows"
    beats = [line for line in lines if line.startswith("    ... loading the shards: ")]
    assert 2 <= len(beats) <= 4, lines
    assert lines[-2].endswith("] counting") and lines[-1] == "    why: as a client would"


def test_no_beat_before_a_step_is_a_beat_old(capsys):
    with Steps(beat_seconds=5) as steps:
        steps.begin("starting", "why not")
        time.sleep(0.3)
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_the_union_merges_rows_of_the_same_junction_as_the_clients_do():
    """SNAPTRON-WIRE.md §13: ids joined with `:`, samples concatenated, counts added, stats recomputed, sorted."""
    def row(snaptron_id, start, end, samples, source):
        counts = [int(entry.split(":")[1]) for entry in samples.strip(",").split(",")]
        return [str(snaptron_id), "chr1", str(start), str(end), str(end - start + 1), "+", "1", "GT", "AG", "0", "0",
                samples, str(len(counts)), str(sum(counts)), "1.0", "1.0", source]

    gtex = [row(7, 100, 200, ",50100:2,50101:4", "1"), row(8, 300, 400, ",50102:1", "1")]
    tcga = [row(3, 100, 200, ",59761:9", "4"), row(4, 50, 60, ",59762:1", "4")]
    merged = union({"gtex": gtex, "tcga": tcga})
    assert [(line[0], line[2]) for line in merged] == [("4", "50"), ("7:3", "100"), ("8", "300")]
    both = merged[1]
    assert both[11:] == [",50100:2,50101:4,59761:9", "3", "15", "5.000", "4.0", "1,4"]
    assert merged[2] == gtex[1]   # in one compilation only: as it came
