"""Re-sharding: a load removes the copies that the plan no longer places on a shard, in the same atomic
load, and the API reads each chromosome from the shard the plan places it on only."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg2
from psycopg2.extras import execute_values

from loaders.cli import main
from snapthunder import endpoints as endpoints_module
from snapthunder_api import create_app
from tests.conftest import in_compilation, junction_lines, query_all_shards, rows_by_chromosome, write_gzip

ONE_PER_SHARD = ["chr1", "chr2", "chr3", "chr4"]   # shard-0 .. shard-3 in the 4-shard plan


def _outputs(endpoints) -> Path:
    return Path(endpoints.extra["local"]["root"]).parent / "endpoints.json"


def _moved(endpoints, tmp_path: Path, moves: dict[str, str]) -> Path:
    """A copy of the endpoints document whose plan puts each chromosome of `moves` on its new shard."""
    document = endpoints.to_document()
    for chromosome, shard in moves.items():
        for entry in document["shards"].values():
            if chromosome in entry["chromosomes"]:
                entry["chromosomes"].remove(chromosome)
        document["shards"][shard]["chromosomes"].append(chromosome)
    document.pop("chromosome_shards")
    path = tmp_path / "resharded.json"
    path.write_text(json.dumps(document))
    return path


def test_a_reload_after_resharding_leaves_one_copy_and_says_what_it_removed(empty_shards, tmp_path, capsys):
    assert [empty_shards.plan().shard_for(name) for name in ONE_PER_SHARD] == list(empty_shards.shards)
    first = write_gzip(tmp_path / "first.gz", junction_lines(ONE_PER_SHARD, 30))
    assert main([str(first), "--outputs", str(_outputs(empty_shards)), "--quiet", "--rejects", str(tmp_path / "r")]) == 0
    resharded = _moved(empty_shards, tmp_path, {"chr3": "shard-0", "chr4": "shard-1"})
    assert endpoints_module.load(resharded).plan().shard_for("chr3") == "shard-0"
    capsys.readouterr()
    only_chr3 = write_gzip(tmp_path / "chr3.gz", junction_lines(["chr3"], 30, 60))   # chr4 is not in this file
    assert main([str(only_chr3), "--outputs", str(resharded), "--quiet", "--rejects", str(tmp_path / "r")]) == 0
    output = capsys.readouterr().out
    assert "  shard-2: removed chr3 (30 rows): the plan places it on shard-0" in output
    assert "  shard-3: removed chr4 (30 rows): the plan places it on shard-1" in output
    held = query_all_shards(empty_shards, "SELECT chromosome FROM chromosome_stats ORDER BY chromosome")
    assert held == {"shard-0": [("chr1",), ("chr3",)], "shard-1": [("chr2",)], "shard-2": [], "shard-3": []}
    assert rows_by_chromosome(empty_shards) == {"chr1": 30, "chr2": 30, "chr3": 30}
    ids = [snaptron_id for rows in query_all_shards(empty_shards, "SELECT snaptron_id FROM intron").values()
           for (snaptron_id,) in rows]
    assert len(ids) == len(set(ids)) == 90


def test_reads_follow_the_plan_not_what_a_shard_happens_to_hold(empty_shards, tmp_path):
    """A copy the plan does not place on a shard (left by a re-shard before the next load) is never read."""
    lines = write_gzip(tmp_path / "all.gz", junction_lines(ONE_PER_SHARD, 30))
    assert main([str(lines), "--outputs", str(_outputs(empty_shards)), "--quiet", "--rejects", str(tmp_path / "r")]) == 0
    owner, stray = empty_shards.shards["shard-2"], empty_shards.shards["shard-0"]   # chr3's shard, and another
    with psycopg2.connect(**in_compilation(empty_shards, owner)) as source, source.cursor() as cursor:
        cursor.execute("SELECT * FROM intron WHERE chromosome = 'chr3'")
        rows = cursor.fetchall()
        cursor.execute("SELECT * FROM chromosome_stats WHERE chromosome = 'chr3'")
        stats = cursor.fetchall()
    source.close()
    with psycopg2.connect(**in_compilation(empty_shards, stray)) as target, target.cursor() as cursor:
        execute_values(cursor, "INSERT INTO intron VALUES %s", rows)
        execute_values(cursor, "INSERT INTO chromosome_stats VALUES %s", stats)
    target.close()
    app = create_app({"endpoints": str(_outputs(empty_shards))})
    try:
        client = app.test_client()
        assert client.get("/gtex/snaptron?rfilter=samples_count>:0&fields=rc").text == "120\n"
        chr3_id = rows[0][0]
        body = client.get(f"/gtex/snaptron?ids={chr3_id}").text
        assert len(body.splitlines()) == 2, body   # the header and one row, not two
    finally:
        app.extensions["snapthunder"].close()
