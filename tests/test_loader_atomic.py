"""A load becomes visible on every shard or on none: loaders killed, shards crashed, at each phase.

Real servers, a real loader process. SNAPTHUNDER_LOADER_STOP_AT (two_phase.py)
stops the loader right after its K-th PREPARE or COMMIT PREPARED; the test
then kills it or crashes a shard. Afterwards every shard that answers shows
the same side (old or new: a prepared shard makes its readers wait), and
recovery leaves all old or all new.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import pytest

from loaders.cli import main
from snapthunder_api import create_app
from snapthunder.postgres_server import PostgresServer
from tests.conftest import SHARD_CONTENTS, junction_lines, in_compilation, query_all_shards, rows_by_chromosome, shard_contents, write_gzip

# One chromosome on each of the four shards (shard-0 chr1, shard-1 chr2, shard-2 chr3, shard-3 chr4).
NEW_LOAD = ["chr1", "chr2", "chr3", "chr4"]
WAIT_SECONDS = 60


def _outputs(endpoints) -> Path:
    return Path(endpoints.extra["local"]["root"]).parent / "endpoints.json"


@pytest.fixture
def old_and_new(empty_shards, tmp_path):
    """Shards holding an old load of every chromosome in NEW_LOAD, and a new file replacing them all."""
    assert [empty_shards.plan().shard_for(name) for name in NEW_LOAD] == list(empty_shards.shards)
    old = write_gzip(tmp_path / "old.gz", junction_lines(NEW_LOAD, 30))
    assert main([str(old), "--outputs", str(_outputs(empty_shards)), "--quiet", "--rejects", str(tmp_path / "r")]) == 0
    return empty_shards, write_gzip(tmp_path / "new.gz", junction_lines(NEW_LOAD, 70, 10_000))


def _start_loader(endpoints, source: Path, stop_at: str, cwd: Path, *extra: str) -> subprocess.Popen:
    environment = dict(os.environ, SNAPTHUNDER_LOADER_STOP_AT=stop_at)
    return subprocess.Popen([sys.executable, "-m", "loaders", str(source), "--outputs", str(_outputs(endpoints)),
                             "--quiet", "--jobs", "1", *extra], env=environment, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_until_stopped(process: subprocess.Popen) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        with open(f"/proc/{process.pid}/stat") as stat:
            if stat.read().rsplit(")", 1)[1].split()[0] == "T":
                return
        time.sleep(0.02)
    process.kill()
    raise AssertionError("the loader never reached its stop point")


def _kill(process: subprocess.Popen) -> None:
    process.kill()
    process.communicate(timeout=WAIT_SECONDS)


def _what_readers_see(endpoints) -> dict[str, list[tuple] | None]:
    """Each shard's contents, or None where reading waits on a prepared load (lock_timeout 0.3 s)."""
    seen = {}
    for name, shard in endpoints.shards.items():
        connection = psycopg2.connect(**in_compilation(endpoints, shard, endpoints.reader))
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '300ms'")
                try:
                    cursor.execute(SHARD_CONTENTS)
                    seen[name] = cursor.fetchall()
                except psycopg2.errors.LockNotAvailable:
                    seen[name] = None
        finally:
            connection.close()
    return seen


def _the_api_says_a_load_holds(endpoints, shard_name: str) -> None:
    """A query on a shard held by a prepared load: a prompt 503 saying so, not a statement timeout."""
    app = create_app({"endpoints": str(_outputs(endpoints)), "lock_wait_seconds": 0.3})
    try:
        chromosome = next(name for name in NEW_LOAD if endpoints.plan().shard_for(name) == shard_name)
        response = app.test_client().get(f"/gtex/snaptron?regions={chromosome}:1-100000")
        assert response.status_code == 503, response.text
        assert response.text.startswith(f"#ERROR 503 {endpoints.shards[shard_name].describe()} is held by a load")
    finally:
        app.extensions["snapthunder"].close()


def _prepared(endpoints) -> list[str]:
    return [gid for rows in query_all_shards(endpoints, "SELECT gid FROM pg_prepared_xacts", as_loader=True).values()
            for (gid,) in rows]


OLD = {name: 30 for name in NEW_LOAD}
NEW = {name: 70 for name in NEW_LOAD}


@pytest.mark.parametrize("stop_at, blocked, outcome, recovered", [
    ("prepare:2", {"shard-0", "shard-1"}, OLD, "rolled it back on shard-0, shard-1 (only 2 of its 4 shards were prepared)"),
    ("prepare:4", {"shard-0", "shard-1", "shard-2", "shard-3"}, NEW,
     "committed it on shard-0, shard-1, shard-2, shard-3 (all 4 shards were prepared)"),
    ("commit:1", {"shard-1", "shard-2", "shard-3"}, NEW, "committed it on shard-1, shard-2, shard-3 (it had committed on shard-0)"),
    ("commit:3", {"shard-3"}, NEW, "committed it on shard-3 (it had committed on shard-0, shard-1, shard-2)"),
])
def test_a_loader_killed_at_each_phase_leaves_one_side_visible_and_recovery_finishes_it(
        old_and_new, tmp_path, capsys, stop_at, blocked, outcome, recovered):
    endpoints, new = old_and_new
    before = shard_contents(endpoints)
    loader = _start_loader(endpoints, new, stop_at, tmp_path)
    _wait_until_stopped(loader)
    second = main([str(new), "--outputs", str(_outputs(endpoints)), "--quiet", "--rejects", str(tmp_path / "r")])
    assert second == 1 and "another load of compilation gtex is running (it holds that compilation's load lock on shard-0)" in capsys.readouterr().err
    _kill(loader)
    seen = _what_readers_see(endpoints)
    assert {name for name, contents in seen.items() if contents is None} == blocked
    _the_api_says_a_load_holds(endpoints, sorted(blocked)[0])
    sides = {"old" if contents == before[name] else "new" for name, contents in seen.items() if contents is not None}
    assert len(sides) <= 1, seen
    assert main(["--recover", "--outputs", str(_outputs(endpoints))]) == 0
    output = capsys.readouterr().out
    assert output.startswith("recovered load ") and output.rstrip().endswith(recovered)
    assert _prepared(endpoints) == []
    assert rows_by_chromosome(endpoints) == outcome
    if outcome is OLD:
        assert shard_contents(endpoints) == before
    assert main([str(new), "--outputs", str(_outputs(endpoints)), "--quiet", "--rejects", str(tmp_path / "r")]) == 0
    assert rows_by_chromosome(endpoints) == NEW


def test_the_next_load_recovers_first_and_says_so(old_and_new, tmp_path, capsys):
    endpoints, new = old_and_new
    loader = _start_loader(endpoints, new, "commit:2", tmp_path)
    _wait_until_stopped(loader)
    _kill(loader)
    assert main([str(new), "--outputs", str(_outputs(endpoints)), "--quiet", "--rejects", str(tmp_path / "r")]) == 0
    assert "committed it on shard-2, shard-3 (it had committed on shard-0, shard-1)" in capsys.readouterr().out
    assert rows_by_chromosome(endpoints) == NEW and _prepared(endpoints) == []


def _server(endpoints, name: str) -> PostgresServer:
    local = endpoints.extra["local"]
    entry = local["servers"][name]
    return PostgresServer(Path(local["binaries"]), Path(entry["data_dir"]), entry["port"])


def test_a_shard_crashing_during_the_commit_is_reported_truthfully_and_recovery_finishes_it(old_and_new, tmp_path):
    endpoints, new = old_and_new
    loader = _start_loader(endpoints, new, "commit:1", tmp_path)
    _wait_until_stopped(loader)
    server = _server(endpoints, "shard-2")
    try:
        server.stop("immediate")
        loader.send_signal(signal.SIGCONT)
        _, error = loader.communicate(timeout=WAIT_SECONDS)
        assert loader.returncode == 1
        assert error.startswith("error: the load is committed on shard-0, shard-1, shard-3; shard-2 prepared (")
        assert error.rstrip().endswith("run the loader again, or `python -m loaders --recover` (with the same "
                                       "--outputs or --stack), to finish it")
    finally:
        if not server.is_running():
            server.start()
    assert _prepared(endpoints) != []          # a prepared transaction survives the crash
    assert main(["--recover", "--outputs", str(_outputs(endpoints))]) == 0
    assert rows_by_chromosome(endpoints) == NEW and _prepared(endpoints) == []


def test_a_shard_crashing_before_the_prepare_changes_nothing(old_and_new, tmp_path):
    endpoints, _ = old_and_new
    before = shard_contents(endpoints)
    lines = list(junction_lines(NEW_LOAD, 8000, 10_000))
    loader = subprocess.Popen([sys.executable, "-m", "loaders", "-", "--outputs", str(_outputs(endpoints)), "--quiet"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    server = _server(endpoints, "shard-2")
    try:
        loader.stdin.write(("\n".join(lines[:28_000]) + "\n").encode())   # past chr3 (shard-2) by more than a block
        loader.stdin.flush()
        _wait_for_copy(endpoints, "shard-2")
        server.stop("immediate")
        try:
            loader.stdin.write(("\n".join(lines[28_000:]) + "\n").encode())
            loader.stdin.close()
        except BrokenPipeError:
            pass
        loader.wait(WAIT_SECONDS)
        error = loader.stderr.read()
    finally:
        if loader.poll() is None:
            _kill(loader)
        if not server.is_running():
            server.start()
    assert loader.returncode == 1 and error.decode().startswith("error: shard-2 (")
    assert shard_contents(endpoints) == before and _prepared(endpoints) == []


def _wait_for_copy(endpoints, shard: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        active = query_all_shards(endpoints, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY \"intron_staging\"%%'",
                                  as_loader=True)
        if active[shard][0][0]:
            return
        time.sleep(0.05)
    raise AssertionError(f"the loader never started its COPY on {shard}")


def test_samples_that_fail_after_the_junctions_are_ready_change_nothing(old_and_new, tmp_path, capsys):
    endpoints, new = old_and_new
    samples = tmp_path / "samples.tsv"
    samples.write_text("rail_id\tsample_id\n0\tA\n1\tB\n")
    assert main([str(new), "--outputs", str(_outputs(endpoints)), "--quiet", "--samples", str(samples),
                 "--rejects", str(tmp_path / "r")]) == 0
    before = shard_contents(endpoints)
    samples.write_text("rail_id\tsample_id\n0\tA\n1\tB\n1\tB again\n")
    again = write_gzip(tmp_path / "again.gz", junction_lines(NEW_LOAD, 40, 20_000))
    assert main([str(again), "--outputs", str(_outputs(endpoints)), "--quiet", "--samples", str(samples),
                 "--rejects", str(tmp_path / "r")]) == 1
    error = capsys.readouterr().err
    assert "duplicate key value violates unique constraint" in error and error.rstrip().endswith("nothing changed")
    assert shard_contents(endpoints) == before


def test_a_load_outlasts_the_servers_idle_in_transaction_timeout(empty_shards, tmp_path):
    """Shards the file reaches late sit idle in the load's transaction: the server must not end it."""
    def set_timeout(value: str) -> None:
        query_all_shards(empty_shards, f"ALTER ROLE CURRENT_USER SET idle_in_transaction_session_timeout = '{value}';"
                                       " SELECT 1", as_loader=True)
    set_timeout("1s")
    try:
        loader = subprocess.Popen([sys.executable, "-m", "loaders", "-", "--outputs", str(_outputs(empty_shards)),
                                   "--quiet", "--jobs", "1"], cwd=tmp_path, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines = list(junction_lines(NEW_LOAD, 20))
        loader.stdin.write("\n".join(lines[:20]) + "\n")   # chr1 only: shard-1..3 wait, idle
        loader.stdin.flush()
        time.sleep(2.5)
        output, errors = loader.communicate("\n".join(lines[20:]) + "\n", timeout=WAIT_SECONDS)
    finally:
        set_timeout("10min")
    assert loader.returncode == 0, errors
    assert rows_by_chromosome(empty_shards) == {chromosome: 20 for chromosome in NEW_LOAD}
