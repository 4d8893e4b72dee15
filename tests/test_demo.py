"""The demo's step announcer: each step says what and why, and a quiet step still speaks every beat."""

from __future__ import annotations

import re
import time

from demo.run import Steps


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
