"""The loader against real shards: routing, rejects, atomic and idempotent loads, metadata."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import psycopg2
import pytest

from loaders.cli import main
from loaders.pipeline import load_junctions
from loaders.shard_writer import ShardLoadError
from snapthunder_api import create_app
from snapthunder import query as query_language
from snapthunder import sample_search, statements
from snapthunder.plan import CHROMOSOMES
from snapthunder.postgres_server import free_port
from tests.conftest import (CHROMOSOME_SAMPLE, DATA, coverage_line, in_compilation, junction_lines, query_all_shards,
                            rows_by_chromosome, shard_contents, write_gzip)


def test_rows_land_on_their_planned_shard_exactly_as_written(empty_shards, tmp_path):
    lines = list(junction_lines())
    summary = load_junctions(str(write_gzip(tmp_path / "j.gz", lines)), empty_shards, tmp_path / "rejects.tsv")
    assert summary.rows_loaded == len(lines) and summary.rejected == 0
    plan = empty_shards.plan()
    stored = query_all_shards(empty_shards, "SELECT chromosome FROM intron")
    for shard, rows in stored.items():
        assert all(plan.shard_for(chromosome) == shard for (chromosome,) in rows)
    copied = []
    for shard in empty_shards.shards.values():
        with psycopg2.connect(**in_compilation(empty_shards, shard)) as connection, connection.cursor() as cursor:
            cursor.execute("SELECT * FROM intron")
            copied += ["\t".join(_snaptron_text(value) for value in row) for row in cursor.fetchall()]
        connection.close()
    assert sorted(copied) == sorted(lines)


def _snaptron_text(value) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def test_bad_lines_go_to_the_rejects_file_with_line_number_and_reason(empty_shards, tmp_path):
    good = (DATA / "junctions_good.tsv").read_text().splitlines()
    bad = (DATA / "junctions_bad.tsv").read_bytes().split(b"\n")[:-1]
    source = tmp_path / "mixed.tsv"
    source.write_bytes(b"\n".join([line.encode() for line in good] + bad) + b"\n")
    rejects = tmp_path / "rejects.tsv"
    assert main([str(source), "--outputs", str(_outputs(empty_shards)), "--rejects", str(rejects), "--quiet"]) == 0
    assert sum(rows_by_chromosome(empty_shards).values()) == len(good)
    rows = rejects.read_bytes().split(b"\n")[1:-1]
    assert [int(row.split(b"\t")[0]) for row in rows] == list(range(len(good) + 1, len(good) + len(bad) + 1))
    expected = [line.split("\t", 1)[1] for line in (DATA / "junctions_bad.reasons").read_text().splitlines()]
    assert [row.split(b"\t")[1].decode() for row in rows] == expected
    assert [row.split(b"\t", 2)[2] for row in rows] == bad


def test_loading_the_same_file_twice_leaves_one_copy_of_each_row(empty_shards, tmp_path):
    source = str(write_gzip(tmp_path / "j.gz", junction_lines()))
    first = load_junctions(source, empty_shards)
    second = load_junctions(source, empty_shards)
    assert first.rows_per_shard == second.rows_per_shard
    assert rows_by_chromosome(empty_shards) == {chromosome: 50 for chromosome in CHROMOSOME_SAMPLE}


def test_a_load_replaces_the_chromosomes_it_carries_and_keeps_the_others(empty_shards, tmp_path):
    load_junctions(str(write_gzip(tmp_path / "all.gz", junction_lines())), empty_shards)
    load_junctions(str(write_gzip(tmp_path / "chr1.gz", junction_lines(["chr1", "chr2"], 20, 10_000))), empty_shards)
    expected = {chromosome: 50 for chromosome in CHROMOSOME_SAMPLE} | {"chr1": 20, "chr2": 20}
    assert rows_by_chromosome(empty_shards) == expected


def test_after_a_load_the_metadata_statistics_and_visibility_map_are_current(empty_shards, tmp_path):
    load_junctions(str(write_gzip(tmp_path / "j.gz", junction_lines())), empty_shards)
    stats = query_all_shards(empty_shards, "SELECT chromosome, row_count, max_length FROM chromosome_stats")
    merged = {chromosome: (rows, longest) for rows_of_shard in stats.values() for chromosome, rows, longest in rows_of_shard}
    assert merged == {chromosome: (50, 100 + 49 + 1) for chromosome in CHROMOSOME_SAMPLE}
    shard = empty_shards.plan().shard_for("chr1")
    meta = query_all_shards(empty_shards, "SELECT key, value FROM shard_metadata")[shard]
    assert dict(meta)["compilation"] == empty_shards.compilation and dict(meta)["schema_version"] == "5"
    history = query_all_shards(empty_shards, "SELECT source, rows_loaded FROM load_history")[shard]
    on_shard = 50 * sum(empty_shards.plan().shard_for(chromosome) == shard for chromosome in CHROMOSOME_SAMPLE)
    assert history == [(str(tmp_path / "j.gz"), on_shard)]
    analyzed = query_all_shards(empty_shards, "SELECT relallvisible > 0, reltuples FROM pg_class WHERE relname = 'intron'")
    assert analyzed[shard] == [(True, float(on_shard))]


def _repeat_id(lines: list[str], source_index: int, target_index: int) -> list[str]:
    """`lines` with line `target_index` given the snaptron_id of line `source_index` (0-based)."""
    repeated = lines[source_index].split("\t", 1)[0]
    lines[target_index] = repeated + "\t" + lines[target_index].split("\t", 1)[1]
    return lines


@pytest.mark.parametrize("second, where", [(5, "both chr1 on shard-0"), (25, "chr1 on shard-0, chr2 on shard-1")])
def test_a_repeated_id_fails_the_load_naming_both_lines_and_shards_and_changes_nothing(
        empty_shards, tmp_path, capsys, second, where):
    assert [empty_shards.plan().shard_for(name) for name in ("chr1", "chr2")] == ["shard-0", "shard-1"]
    load_junctions(str(write_gzip(tmp_path / "first.gz", junction_lines())), empty_shards)
    before = shard_contents(empty_shards)
    lines = _repeat_id(list(junction_lines(["chr1", "chr2"], 20, 500)), 2, second)
    source = write_gzip(tmp_path / "dup.gz", lines)
    assert main([str(source), "--outputs", str(_outputs(empty_shards)), "--quiet",
                 "--rejects", str(tmp_path / "r.tsv")]) == 1
    assert capsys.readouterr().err == (f"error: {source}: lines 3 and {second + 1} both have snaptron_id 502 ({where}): "
                                       "snaptron_id must be unique within a compilation; remove or renumber one of "
                                       "them and load again\n")
    assert shard_contents(empty_shards) == before


def test_a_repeated_id_on_stdin_names_the_line_that_repeats_it(empty_shards, tmp_path):
    """Two blocks apart (a block is ~1 MB): the first copy was in a block that stdin cannot give again."""
    lines = _repeat_id(list(junction_lines(["chr1", "chr2"], 10_000, 500)), 2, 15_000)
    assert len("\n".join(lines[:15_000])) > 1 << 20
    result = subprocess.run([sys.executable, "-m", "loaders", "-", "--outputs", str(_outputs(empty_shards)), "--quiet"],
                            input="\n".join(lines) + "\n", capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == ("error: -: line 15,001 (chr2 on shard-1) repeats snaptron_id 502 of an earlier line (stdin "
                             "cannot be read again to say which): snaptron_id must be unique within a compilation; "
                             "remove or renumber one of them and load again\n")
    assert rows_by_chromosome(empty_shards) == {}


def test_an_id_already_held_for_a_chromosome_the_load_keeps_is_refused_by_the_shard(empty_shards, tmp_path):
    load_junctions(str(write_gzip(tmp_path / "first.gz", junction_lines(["chr1"], 10))), empty_shards)
    before = shard_contents(empty_shards)
    with pytest.raises(ShardLoadError, match=r"shard-0 \(chr1.*duplicate snaptron_id: Key \(snaptron_id\)=\(3\) is duplicated"):
        load_junctions(str(write_gzip(tmp_path / "chr10.gz", junction_lines(["chr10"], 5, 3))), empty_shards)
    assert shard_contents(empty_shards) == before


def test_a_load_killed_midway_leaves_each_shard_as_before_and_a_rerun_completes(empty_shards, tmp_path):
    load_junctions(str(write_gzip(tmp_path / "first.gz", junction_lines())), empty_shards)
    before = rows_by_chromosome(empty_shards)
    outputs = _outputs(empty_shards)
    loader = subprocess.Popen([sys.executable, "-m", "loaders", "-", "--outputs", str(outputs), "--quiet"],
                              stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    lines = list(junction_lines(list(CHROMOSOMES), 2000, 100_000))
    try:
        loader.stdin.write(("\n".join(lines[: len(lines) // 2]) + "\n").encode())
        loader.stdin.flush()
        _wait_for_copy_in_progress(empty_shards)
    finally:
        loader.send_signal(signal.SIGKILL)
        loader.wait()
    assert rows_by_chromosome(empty_shards) == before
    complete = write_gzip(tmp_path / "full.gz", lines)
    assert main([str(complete), "--outputs", str(outputs), "--quiet"]) == 0
    assert rows_by_chromosome(empty_shards) == before | {chromosome: 2000 for chromosome in CHROMOSOMES}


def _wait_for_copy_in_progress(endpoints, timeout=30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        active = query_all_shards(endpoints, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY \"intron_staging\"%%'",
                                  as_loader=True)
        if any(rows[0][0] for rows in active.values()):
            return
        time.sleep(0.05)
    raise AssertionError("the loader never started its COPY")


def test_a_second_concurrent_load_is_refused_with_a_clear_message(empty_shards, tmp_path):
    shard = empty_shards.shards[empty_shards.plan().shard_for("chr1")]
    holder = psycopg2.connect(**in_compilation(empty_shards, shard))
    try:
        with holder.cursor() as cursor:
            cursor.execute("SELECT begin_table_load('intron')")
        with pytest.raises(ShardLoadError, match="another load of compilation gtex is running on this shard"):
            load_junctions(str(write_gzip(tmp_path / "j.gz", junction_lines(["chr1"], 5))), empty_shards)
    finally:
        holder.rollback()
        holder.close()


def test_samples_tsv_is_loaded_into_every_shard_and_bad_lines_rejected(empty_shards, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    samples = tmp_path / "samples.tsv"
    samples.write_text("rail_id\tsample_id\tsmts\n0\tGTEX-1\tLung\n1\tGTEX-2\tBrain\\Cortex\nx\tbad\tline\n2\tshort\n")
    junctions = write_gzip(tmp_path / "j.gz", junction_lines(["chr1"], 3))
    rejects = tmp_path / "rejects.tsv"
    assert main([str(junctions), "--outputs", str(_outputs(empty_shards)), "--samples", str(samples),
                 "--rejects", str(rejects), "--quiet"]) == 0
    stored = query_all_shards(empty_shards, "SELECT rail_id, line FROM sample ORDER BY rail_id")
    assert all(rows == [(0, "0\tGTEX-1\tLung"), (1, "1\tGTEX-2\tBrain\\Cortex")] for rows in stored.values())
    header = query_all_shards(empty_shards, "SELECT value FROM shard_metadata WHERE key = 'samples_header'")
    assert all(rows == [("rail_id\tsample_id\tsmts",)] for rows in header.values())
    fields = query_all_shards(empty_shards, "SELECT name, type FROM sample_field ORDER BY position")
    assert all(rows == [("rail_id", "i"), ("sample_id", "t"), ("smts", "t")] for rows in fields.values())
    loaded_at = query_all_shards(empty_shards, "SELECT value FROM shard_metadata WHERE key = 'samples_loaded_at'")
    assert len({rows[0][0] for rows in loaded_at.values()}) == 1
    assert abs(float(loaded_at["shard-0"][0][0]) - time.time()) < 60
    rejected = (tmp_path / "samples.tsv.rejects.tsv").read_text().splitlines()[1:]
    assert [row.split("\t")[0] for row in rejected] == ["4", "5"]


def test_sample_lines_are_served_byte_for_byte_and_a_line_with_a_reserved_byte_is_rejected(empty_shards, tmp_path,
                                                                                           monkeypatch, capsys):
    """The API sends sample lines unescaped (CSV between 0x1F and 0x1E): backslashes, quotes and tabs come back
    as written; a line holding either byte or a carriage return is rejected naming its line, a header holding
    one fails the load naming it."""
    monkeypatch.chdir(tmp_path)
    good = ["rail_id\tsample_id\tsmts", '0\tGTEX-1\tLung "upper" \\N', "1\tGTEX-2\tBrain\\tCortex, \\\\x"]
    samples = tmp_path / "samples.tsv"
    lines = [*good[:2], "2\tGTEX-3\tLiver\x1fright", good[2], "3\tGTEX-4\t\x1eSkin", "4\tGTEX-5\tHeart\rLeft"]
    samples.write_bytes("".join(line + "\r\n" for line in lines).encode())    # CRLF endings: not rejects
    junctions = write_gzip(tmp_path / "j.gz", junction_lines(["chr1"], 3))
    outputs = str(_outputs(empty_shards))
    assert main([str(junctions), "--outputs", outputs, "--samples", str(samples), "--quiet"]) == 0
    rejected = (tmp_path / "samples.tsv.rejects.tsv").read_bytes().split(b"\n")[1:-1]
    reason = b"samples: the line holds a byte the API cannot send unescaped (0x1F, 0x1E, 0x0D)"
    assert [row.split(b"\t")[:2] for row in rejected] == [[b"3", reason], [b"5", reason], [b"6", reason]]
    app = create_app({"endpoints": outputs})
    try:
        client = app.test_client()
        assert client.get(f"/{empty_shards.compilation}/samples?all=1").get_data(as_text=True) == "\n".join(good) + "\n"
        by_ids = client.get(f"/{empty_shards.compilation}/samples?ids=1,0").get_data(as_text=True).splitlines()
        assert by_ids[1:] == [f"GTEx:S\t{line}" for line in good[1:]]
        found = client.get(f"/{empty_shards.compilation}/samples?sfilter=smts:brain").get_data(as_text=True)
        assert found.splitlines()[1].endswith("\t" + good[2])
    finally:
        app.extensions["snapthunder"].close()
    samples.write_bytes(b"rail_id\tsample_id\x1f\n0\tGTEX-1\n")
    capsys.readouterr()
    assert main([str(junctions), "--outputs", outputs, "--samples", str(samples), "--quiet"]) == 1
    assert f"{samples}: line 1 (the header): the line holds a byte the API cannot send" in capsys.readouterr().err


def test_plain_text_from_stdin_is_loaded(empty_shards, tmp_path):
    lines = list(junction_lines(["chr3"], 7))
    result = subprocess.run([sys.executable, "-m", "loaders", "-", "--outputs", str(_outputs(empty_shards)), "--quiet"],
                            input="\n".join(lines) + "\n", capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "loaded 7 junctions" in result.stdout
    assert rows_by_chromosome(empty_shards) == {"chr3": 7}


@pytest.mark.parametrize("arguments, code, message", [
    (["missing.bgz", "--outputs", "{outputs}"], 1, "missing.bgz: cannot open: No such file or directory"),
    (["{data}", "--outputs", "nowhere.json"], 1, "nowhere.json: no endpoints document here"),
    (["{data}"], 2, "one of the arguments --outputs --stack is required"),
    (["{data}", "--outputs", "{outputs}", "--jobs", "0"], 2, "--jobs: must be at least 1"),
    (["{data}", "--stack", "dev"], 1, "--stack dev needs the Pulumi CLI"),
    (["{data}", "--outputs", "{outputs}", "--port-forward"], 2, "--port-forward goes with --stack"),
])
def test_command_line_errors_are_one_line_with_the_right_exit_code(local_environment, tmp_path, arguments, code, message):
    values = {"outputs": str(_outputs(local_environment)), "data": str(DATA / "junctions_good.tsv")}
    command = [sys.executable, "-m", "loaders", *(argument.format(**values) for argument in arguments)]
    environment = dict(os.environ, PATH=os.path.dirname(sys.executable))
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=environment)
    assert result.returncode == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_shard_is_named(local_environment, tmp_path):
    document = local_environment.to_document()
    victim = local_environment.plan().shard_for("chr1")
    document["shards"][victim]["port"] = free_port()  # nothing listens there
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(document))
    result = subprocess.run([sys.executable, "-m", "loaders", str(DATA / "junctions_good.tsv"), "--outputs", str(broken),
                             "--quiet"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 1
    assert f"error: {victim} (" in result.stderr and "Connection refused" in result.stderr


def _outputs(endpoints) -> Path:
    return Path(endpoints.extra["local"]["root"]).parent / "endpoints.json"


def test_stack_outputs_come_from_the_pulumi_cli(empty_shards, outputs_path, tmp_path):
    """A stand-in `pulumi` (the real CLI cannot run here) prints the document, as `stack output` does."""
    fake = tmp_path / "bin" / "pulumi"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/arguments\ncat {outputs_path}\n')
    fake.chmod(0o755)
    environment = dict(os.environ, PATH=f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    result = subprocess.run([sys.executable, "-m", "loaders", "-", "--stack", "dev", "--quiet"], env=environment,
                            input="\n".join(junction_lines(["chr5"], 4)) + "\n", capture_output=True, text=True,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "arguments").read_text().split() == ["stack", "output", "--json", "--show-secrets",
                                                            "--stack", "dev"]
    assert rows_by_chromosome(empty_shards) == {"chr5": 4}


def test_a_terminal_gets_a_progress_bar_and_a_pipe_does_not(empty_shards, outputs_path, tmp_path):
    source = write_gzip(tmp_path / "j.gz", junction_lines(per_chromosome=200))
    command = [sys.executable, "-m", "loaders", str(source), "--outputs", str(outputs_path)]
    environment = {key: value for key, value in os.environ.items() if key != "CI"}
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # a terminal has a size
    with subprocess.Popen(command, stderr=secondary, stdout=subprocess.DEVNULL, env=environment, cwd=tmp_path) as loader:
        os.close(secondary)
        shown = _read_all(primary)
    assert loader.returncode == 0
    assert "loading j.gz" in shown and "lines/s" in shown
    piped = subprocess.run(command, capture_output=True, text=True, env=environment, cwd=tmp_path)
    assert piped.returncode == 0 and piped.stderr == ""


def _read_all(descriptor: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(descriptor, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(descriptor)
    return b"".join(chunks).decode(errors="replace")


def test_shipped_field_types_beside_samples_tsv_win_and_a_bad_types_line_is_named(empty_shards, tmp_path, capsys):
    samples = tmp_path / "samples.tsv"
    samples.write_text("rail_id\tauc\tsmrin\tnotes\n0\t12\t7.5\tNA\n1\t13\t8\tNA\n")
    junctions = write_gzip(tmp_path / "j.gz", junction_lines(["chr1"], 2))
    arguments = [str(junctions), "--outputs", str(_outputs(empty_shards)), "--samples", str(samples), "--quiet",
                 "--rejects", str(tmp_path / "rejects.tsv")]
    assert main(arguments) == 0
    inferred = query_all_shards(empty_shards, "SELECT name, type FROM sample_field ORDER BY position")["shard-0"]
    # smrin: one integer, one float cell, a tie that the more general kind wins; notes: all NA.
    assert inferred == [("rail_id", "i"), ("auc", "i"), ("smrin", "f"), ("notes", "n")]
    types = tmp_path / "lucene_indexed_numeric_types.tsv"
    types.write_text("rail_id\ti\nauc\tf\nsmrin\tf\nnotes\tt\nall\tt\n")
    assert main(arguments) == 0
    shipped = query_all_shards(empty_shards, "SELECT name, type FROM sample_field ORDER BY position")["shard-0"]
    assert shipped == [("rail_id", "i"), ("auc", "f"), ("smrin", "f"), ("notes", "t")]
    types.write_text("rail_id\ti\nauc\tinteger\n")
    assert main(arguments) == 1
    assert f"{types}:2: expected <field><TAB><one of t i f n>" in capsys.readouterr().err


def test_each_numeric_sample_column_gets_a_btree_that_sfilter_uses_and_the_next_load_replaces(empty_shards, tmp_path):
    samples = tmp_path / "samples.tsv"
    samples.write_text("rail_id\tauc\tsmrin\tnotes\n0\t12\t7.5\tNA\n1\t13\t8\tNA\n")
    arguments = [str(write_gzip(tmp_path / "j.gz", junction_lines(["chr1"], 2))), "--outputs",
                 str(_outputs(empty_shards)), "--samples", str(samples), "--quiet",
                 "--rejects", str(tmp_path / "rejects.tsv")]
    indexes = ("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'sample' "
               "AND indexname LIKE %s ORDER BY 1", ("sample\\_number\\_%",))
    assert main(arguments) == 0
    assert all(rows == [("sample_number_1",), ("sample_number_2",), ("sample_number_3",)]
               for rows in query_all_shards(empty_shards, *indexes).values())
    fields = sample_search.sample_fields(query_all_shards(empty_shards, statements.REGISTRY_FIELDS)["shard-0"])
    request = query_language.parse_samples(query_language.split_query_string("sfilter=smrin>:7.8"), 100)
    statement, parameters = sample_search.search_statement(request, fields, "GTEx")
    shard = next(iter(empty_shards.shards.values()))
    with psycopg2.connect(**in_compilation(empty_shards, shard, empty_shards.reader)) as connection:
        with connection.cursor() as cursor:
            cursor.execute("SET enable_seqscan = off")    # two samples: only whether the index can serve
            cursor.execute(b"EXPLAIN " + cursor.mogrify(statement, parameters))
            plan = "\n".join(line for (line,) in cursor.fetchall())
    connection.close()
    assert "sample_number_3" in plan, plan
    (tmp_path / "lucene_indexed_numeric_types.tsv").write_text("rail_id\ti\nauc\tt\nsmrin\tf\nnotes\tt\n")
    assert main(arguments) == 0                           # auc is text now: its btree goes
    assert all(rows == [("sample_number_1",), ("sample_number_3",)]
               for rows in query_all_shards(empty_shards, *indexes).values())


def test_a_samples_load_leaves_its_rows_all_visible_and_the_text_indexes_with_nothing_pending(empty_shards, tmp_path):
    """COPY FREEZE makes the rows all-visible (the load's ANALYZE counts the pages so marked); rows a COPY
    added to a GIN index wait in its pending list, read by every search, until merged."""
    samples = tmp_path / "samples.tsv"
    samples.write_text("rail_id\tsmts\tsmtsd\n" + "".join(f"{rail_id}\tBrain\tBrain - Cortex {rail_id}\n"
                                                          for rail_id in range(200)))
    assert main([str(write_gzip(tmp_path / "j.gz", junction_lines(["chr1"], 2))), "--outputs",
                 str(_outputs(empty_shards)), "--samples", str(samples), "--quiet",
                 "--rejects", str(tmp_path / "rejects.tsv")]) == 0
    gin = ("SELECT class.relname, gin_clean_pending_list(class.oid::regclass) FROM pg_index AS sample_index "
           "JOIN pg_class AS class ON class.oid = sample_index.indexrelid JOIN pg_am AS method ON method.oid = "
           "class.relam WHERE sample_index.indrelid = 'sample'::regclass AND method.amname = 'gin' ORDER BY 1")
    assert all(sorted(rows) == [("sample_cell_words", 0), ("sample_words", 0)]     # 0: no page was pending
               for rows in query_all_shards(empty_shards, gin, as_loader=True).values())
    pages = "SELECT relpages, relallvisible FROM pg_class WHERE oid = 'sample'::regclass"
    assert all(rows[0][0] > 0 and rows[0][1] == rows[0][0] for rows in query_all_shards(empty_shards, pages).values())


def test_sample_groups_beside_samples_tsv_load_with_them_bad_lines_named_and_go_with_the_next_samples(
        empty_shards, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    samples = tmp_path / "samples.tsv"
    samples.write_text("rail_id\tsmts\n0\tLung\n1\tBrain\n2\tBrain\n")
    groups = tmp_path / "samples.groups.tsv"
    groups.write_text("group_short_name\tgroup_long_name\trail_id_count\trail_ids\n"
                      "Brain\tBrain \\ all\t2\t1,2\n"
                      "Lung\tLung\t2\t0\n"            # count does not match
                      "42\tdigits\t1\t0\n"            # a name that sids= would read as a rail_id
                      "Brain\tagain\t1\t0\n"          # given twice
                      "Lung\tLung\t1\t0,x\n"          # not ids
                      "short\tline\n"
                      "Lung\tLung\t1\t0\n")
    junctions = write_gzip(tmp_path / "j.gz", junction_lines(["chr1"], 3))
    arguments = [str(junctions), "--outputs", str(_outputs(empty_shards)), "--samples", str(samples),
                 "--rejects", str(tmp_path / "rejects.tsv"), "--quiet"]
    assert main(arguments) == 0
    assert "loaded 2 sample groups from" in capsys.readouterr().out
    stored = query_all_shards(empty_shards, "SELECT name, long_name, rail_ids FROM sample_group ORDER BY name")
    assert all(rows == [("Brain", "Brain \\ all", [1, 2]), ("Lung", "Lung", [0])] for rows in stored.values())
    rejected = (tmp_path / "samples.groups.tsv.rejects.tsv").read_text().splitlines()[1:]
    assert [row.split("\t")[:2] for row in rejected] == [
        ["3", "sample groups: rail_id_count '2' does not match the 1 rail_ids listed"],
        ["4", "sample groups: group name '42': a name is not empty, not all digits (those are rail_ids in sids=) "
              "and holds no comma"],
        ["5", "sample groups: group 'Brain' is given twice; the first is kept"],
        ["6", "sample groups: rail_ids '0,x' are not comma-separated whole numbers"],
        ["7", "sample groups: 2 columns; a group line has 4 (short name, long name, count, rail_ids)"]]
    assert main(arguments) == 0     # loading again leaves the same groups once
    assert query_all_shards(empty_shards, "SELECT count(*) FROM sample_group") == {
        name: [(2,)] for name in empty_shards.shards}
    groups.write_text("group_name\trail_ids\n")
    assert main(arguments) == 1
    assert f"{groups}:1: the header must be 'group_short_name" in capsys.readouterr().err
    groups.unlink()                 # samples without groups: the groups go with the old samples
    assert main(arguments) == 0
    assert query_all_shards(empty_shards, "SELECT count(*) FROM sample_group") == {
        name: [(0,)] for name in empty_shards.shards}


def test_genes_load_into_every_shard_bad_lines_named_and_stay_until_given_again(empty_shards, tmp_path, monkeypatch,
                                                                                 capsys):
    monkeypatch.chdir(tmp_path)
    genes = tmp_path / "refseq_transcripts_by_hgvs.tsv"
    genes.write_text("cd99\tNM_1\tchrX\t+\t2691132\t2741309\t0\t0\t1\t0,\t1,\n"
                     "CD99\tNM_2\tchrY\t+\t2641132\t2691309\t0\t0\t1\t0,\t1,\n"
                     "CD99\tNM_3\tchrX_KI270880v1_alt\t+\t1\t9\t0\t0\t1\t0,\t1,\n"      # skipped, as Snaptron skips
                     "ALK\tNM_4\tchr2\t-\t29192773\n"                                   # too few columns
                     "ALK\tNM_4\tchr2\t-\tx\t29921586\t0\t0\t1\t0,\t1,\n"               # not a coordinate
                     "ALK\tNM_4\tchr2\t-\t29921586\t29192773\t0\t0\t1\t0,\t1,\n"        # start after end
                     "A B\tNM_5\tchr2\t-\t1\t2\t0\t0\t1\t0,\t1,\n")                     # not a symbol
    junctions = write_gzip(tmp_path / "j.gz", junction_lines(["chr1"], 3))
    arguments = [str(junctions), "--outputs", str(_outputs(empty_shards)), "--rejects", str(tmp_path / "r.tsv"),
                 "--quiet"]
    assert main(arguments + ["--genes", str(genes)]) == 0
    assert "loaded 2 gene transcripts from" in capsys.readouterr().out
    stored = query_all_shards(empty_shards, 'SELECT symbol, chromosome, start, "end", line FROM gene_transcript '
                                            "ORDER BY line")
    assert all(rows == [("CD99", "chrX", 2691133, 2741309, 1), ("CD99", "chrY", 2641133, 2691309, 2)]
               for rows in stored.values())
    rejected = (tmp_path / "refseq_transcripts_by_hgvs.tsv.rejects.tsv").read_text().splitlines()[1:]
    assert [row.split("\t")[:2] for row in rejected] == [
        ["4", "genes: 5 columns; refFlat has 11 (symbol, name, chromosome, strand, txStart, txEnd, …)"],
        ["5", "genes: column 5 is 'x', expected a coordinate"],
        ["6", "genes: txStart 29,921,586 is not before txEnd 29,192,773"],
        ["7", "genes: gene symbol 'A B' is not letters, digits and . _ - @"]]
    assert main(arguments + ["--genes", str(genes)]) == 0      # again: the same two, once
    assert main(arguments) == 0                                 # a load without --genes keeps them
    assert query_all_shards(empty_shards, "SELECT count(*) FROM gene_transcript") == {
        name: [(2,)] for name in empty_shards.shards}


def test_a_compilation_directory_loads_whole_twice_alike_and_lists_what_it_skips(empty_shards, tmp_path, monkeypatch,
                                                                                 capsys):
    monkeypatch.chdir(tmp_path)
    compilation = tmp_path / "gtex"
    compilation.mkdir()
    write_gzip(compilation / "junctions.gz", junction_lines(["chr1", "chr2"], 5))
    (compilation / "samples.tsv").write_text("rail_id\tsmts\n0\tLung\n1\tBrain\n")
    (compilation / "samples.groups.tsv").write_text("group_short_name\tgroup_long_name\trail_id_count\trail_ids\n"
                                                    "Brain\tBrain\t1\t1\n")
    (compilation / "refseq_transcripts_by_hgvs.tsv").write_text("CD99\tNM_1\tchrX\t+\t2691132\t2741309\t0\t0\t1\t0,\t1,\n")
    write_gzip(compilation / "genes.bgz", [coverage_line(1, "chr2", 500, 9000, [(0, 50)]),
                                          coverage_line(0, "chr1", 100, 5000, [(1, 7), (0, 3)])])
    write_gzip(compilation / "exons.bgz", [coverage_line(0, "chr1", 100, 300, [(0, 2)], exon_count="")])
    (compilation / "gencode.v26.annotation.gff3").write_text(
        "##gff-version 3\nchrX\tHAVANA\tgene\t2691133\t2741309\t.\t+\t.\tID=ENSG00000002586.19;"
        "gene_id=ENSG00000002586.19;gene_name=CD99\n")
    write_gzip(compilation / "all_transcripts.gtf.bgz",
               ['chr2\tGC\ttranscript\t100\t900\t.\t+\t.\ttranscript_id "T1";exons "100-200,800-900";'])
    for name in ("other.gtf.bgz", "junctions.gz.tbi", "notes.txt"):
        (compilation / name).write_text("")
    arguments = [str(compilation), "--outputs", str(_outputs(empty_shards)), "--quiet"]
    contents = []
    for _ in range(2):
        assert main(arguments) == 0
        output = capsys.readouterr()
        assert output.err.splitlines() == [
            f"skipped {compilation}/junctions.gz.tbi: a tabix index: the shards index the junctions themselves",
            f"skipped {compilation}/notes.txt: not a Snaptron file this loader knows",
            f"skipped {compilation}/other.gtf.bgz: not a Snaptron file this loader knows"]
        assert "loaded 2 samples" in output.out and "loaded 1 gene transcripts" in output.out
        assert "loaded 1 GENCODE genes" in output.out and "loaded 1 transcripts" in output.out
        assert f"loaded 2 rows from {compilation}/genes.bgz" in output.out
        assert f"loaded 1 rows from {compilation}/exons.bgz" in output.out
        contents.append(query_all_shards(empty_shards, "SELECT (SELECT count(*) FROM intron), "
                                                       "(SELECT array_agg(rail_id ORDER BY rail_id) FROM sample), "
                                                       "(SELECT array_agg(name) FROM sample_group), "
                                                       "(SELECT array_agg(symbol) FROM gene_transcript), "
                                                       "(SELECT array_agg(snaptron_id ORDER BY snaptron_id) FROM gene), "
                                                       "(SELECT array_agg(snaptron_id) FROM exon), "
                                                       "(SELECT array_agg(gene_id) FROM gencode_gene), "
                                                       "(SELECT count(*) FROM annotation_transcript)"))
    assert contents[0] == contents[1]
    assert [rows[0][1:4] for rows in contents[0].values()] == [([0, 1], ["Brain"], ["CD99"])] * len(empty_shards.shards)
    plan = empty_shards.plan()
    assert {name: rows[0][4:6] for name, rows in contents[0].items() if rows[0][4] or rows[0][5]} == (
        {plan.shard_for("chr1"): ([0], [0]), plan.shard_for("chr2"): ([1], None)}
        if plan.shard_for("chr1") != plan.shard_for("chr2") else {plan.shard_for("chr1"): ([0, 1], [0])})
    assert all(rows[0][6] == ["ENSG00000002586.19"] for rows in contents[0].values())
    assert {name: rows[0][7] for name, rows in contents[0].items()} == {
        name: int(name == plan.shard_for("chr2")) for name in empty_shards.shards}
    assert rows_by_chromosome(empty_shards) == {"chr1": 5, "chr2": 5}


def test_a_directory_without_one_junctions_file_or_doubled_by_an_option_is_a_usage_error(empty_shards, tmp_path,
                                                                                           capsys):
    (tmp_path / "samples.tsv").write_text("rail_id\n0\n")
    (tmp_path / "genes.bgz").write_text("")
    outputs = ["--outputs", str(_outputs(empty_shards)), "--quiet"]
    assert main([str(tmp_path), *outputs]) == 2
    assert capsys.readouterr().err == (
        f"usage error: {tmp_path}: no junctions file (one of junctions.bgz, junctions.gz, junctions.tsv); it holds: "
        "genes.bgz, samples.tsv. Give the directory of one compilation, or the junctions file itself\n")
    write_gzip(tmp_path / "junctions.bgz", junction_lines(["chr1"], 2))
    assert main([str(tmp_path), *outputs, "--samples", str(tmp_path / "samples.tsv")]) == 2
    assert "give one of them (move samples.tsv out of" in capsys.readouterr().err
    assert rows_by_chromosome(empty_shards) == {}
