"""Loading a compilation directory's genes.bgz and exons.bgz: the junctions' guarantees, on real shards.

Bad lines go to `./<file>.rejects.tsv` naming the line and the column at
fault, as junction lines do; a repeated snaptron_id fails the whole load,
junctions included, naming both lines, and changes nothing; the rows land on
the shard the plan gives their chromosome; loading twice leaves one copy
(tests/test_loader.py's directory test).
"""

from __future__ import annotations

from loaders.cli import main
from tests.conftest import (coverage_line, junction_lines, query_all_shards, rows_by_chromosome, shard_contents,
                            write_gzip)

GENES = [coverage_line(0, "chr1", 100, 5000, [(1, 7), (0, 3)]), coverage_line(1, "chr2", 500, 9000, [(0, 50)]),
         coverage_line(2, "chrX", 10, 90, [])]
EXONS = [coverage_line(0, "chr1", 100, 300, [(0, 2)], exon_count=""),
         coverage_line(1, "chr1", 4800, 5000, [(1, 4)], exon_count="")]


def _directory(tmp_path, genes, exons):
    compilation = tmp_path / "gtex"
    compilation.mkdir(parents=True)
    write_gzip(compilation / "junctions.bgz", junction_lines(["chr1", "chr2"], 5))
    write_gzip(compilation / "genes.bgz", genes)
    write_gzip(compilation / "exons.bgz", exons)
    return compilation


def _stored(endpoints, table):
    rows = query_all_shards(endpoints, f"SELECT snaptron_id, chromosome FROM {table} ORDER BY snaptron_id")
    return {name: found for name, found in rows.items() if found}


def test_gene_and_exon_rows_land_on_their_chromosomes_shard_with_their_statistics(empty_shards, outputs_path, tmp_path,
                                                                                   capsys):
    compilation = _directory(tmp_path, GENES, EXONS)
    assert main([str(compilation), "--outputs", str(outputs_path), "--quiet"]) == 0
    plan = empty_shards.plan()
    genes = _stored(empty_shards, "gene")
    assert sorted(row for rows in genes.values() for row in rows) == [(0, "chr1"), (1, "chr2"), (2, "chrX")]
    assert all(plan.shard_for(chromosome) == name for name, rows in genes.items() for _, chromosome in rows)
    stats = query_all_shards(empty_shards, "SELECT chromosome, row_count, max_length FROM exon_chromosome_stats")
    assert [row for rows in stats.values() for row in rows] == [("chr1", 2, 201)]
    assert rows_by_chromosome(empty_shards) == {"chr1": 5, "chr2": 5}
    assert "loaded 3 rows from" in capsys.readouterr().out


def test_a_bad_line_in_genes_and_in_exons_is_rejected_naming_its_file_and_line(empty_shards, outputs_path, tmp_path,
                                                                             monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    bad_gene = GENES[1].replace("\t-\t", "\tsideways\t")
    bad_exon = EXONS[1].replace(",1:4", "1:4")
    compilation = _directory(tmp_path, [GENES[0], bad_gene, GENES[2]], [EXONS[0], bad_exon])
    assert main([str(compilation), "--outputs", str(outputs_path), "--quiet"]) == 0
    output = capsys.readouterr().out
    assert f"rejected 1 of 3 lines of {compilation}/genes.bgz: see genes.bgz.rejects.tsv" in output
    assert f"rejected 1 of 2 lines of {compilation}/exons.bgz: see exons.bgz.rejects.tsv" in output
    gene_rejects = (tmp_path / "genes.bgz.rejects.tsv").read_text().splitlines()[1:]
    exon_rejects = (tmp_path / "exons.bgz.rejects.tsv").read_text().splitlines()[1:]
    assert gene_rejects == [f"2\tcolumn 6 (strand) is 'sideways', expected one of + - ?\t{bad_gene}"]
    assert exon_rejects == [f"2\tcolumn 12 (samples) is '1:4', expected empty or a ,sid:count list starting with "
                            f"a comma\t{bad_exon}"]
    assert sorted(row for rows in _stored(empty_shards, "gene").values() for row in rows) == [(0, "chr1"), (2, "chrX")]
    assert [row for rows in _stored(empty_shards, "exon").values() for row in rows] == [(0, "chr1")]


def test_a_repeated_id_in_exons_fails_the_whole_load_naming_both_lines_and_changes_nothing(empty_shards, outputs_path,
                                                                                          tmp_path, capsys):
    outputs = ["--outputs", str(outputs_path), "--quiet"]
    assert main([str(_directory(tmp_path / "first", GENES, EXONS[:1])), *outputs]) == 0
    before = shard_contents(empty_shards)
    repeated = coverage_line(0, "chr2", 600, 700, [(3, 1)], exon_count="")
    compilation = _directory(tmp_path / "second", GENES[:1], [EXONS[0], repeated])
    capsys.readouterr()
    assert main([str(compilation), *outputs]) == 1
    assert capsys.readouterr().err.startswith(f"error: {compilation}/exons.bgz: lines 1 and 2 both have snaptron_id 0")
    assert shard_contents(empty_shards) == before
