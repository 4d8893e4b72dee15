"""The junction line check, against golden files of good and bad lines (tests/data)."""

import pytest

from snapthunder.junctions import COLUMNS, BadLine, check, check_block
from tests.conftest import DATA, junction_line


def test_every_good_line_passes_and_gives_its_chromosome():
    lines = (DATA / "junctions_good.tsv").read_bytes().splitlines()
    assert [check(line) for line in lines] == [line.split(b"\t")[1] for line in lines]


def test_every_bad_line_fails_with_the_golden_reason():
    lines = (DATA / "junctions_bad.tsv").read_bytes().split(b"\n")[:-1]
    expected = [row.split("\t", 1)[1] for row in (DATA / "junctions_bad.reasons").read_text().splitlines()]
    assert len(lines) == len(expected)
    for line, reason in zip(lines, expected):
        with pytest.raises(BadLine) as failure:
            check(line)
        assert str(failure.value) == reason


def test_a_megabyte_samples_field_is_checked_in_one_pass():
    line = junction_line(7, "chr2", 100, 200, ((sid, sid % 13 + 1) for sid in range(150_000)))
    assert len(line) > 1_000_000
    assert check(line.encode()) == b"chr2"


def test_the_columns_are_snaptrons_seventeen_in_order():
    assert len(COLUMNS) == 17
    assert COLUMNS[:4] == ("snaptron_id", "chromosome", "start", "end")
    assert COLUMNS[11:] == ("samples", "samples_count", "coverage_sum", "coverage_avg", "coverage_median",
                            "source_dataset_id")


def test_a_checked_block_agrees_with_the_line_check_and_locates_its_good_lines():
    good = (DATA / "junctions_good.tsv").read_bytes()
    block = good + (DATA / "junctions_bad.tsv").read_bytes() + good
    checked = check_block(block, first_line_number=100)
    lines = block.split(b"\n")[:-1]
    expected_rejects = []
    for number, line in enumerate(lines, 100):
        try:
            check(line)
        except BadLine as bad:
            expected_rejects.append((number, str(bad), line))
    assert checked.rejects == expected_rejects
    assert checked.lines == len(lines)
    rejected = {number for number, _, _ in expected_rejects}
    kept = b"".join(line + b"\n" for number, line in enumerate(lines, 100) if number not in rejected)
    assert b"".join(block[start:end] for _, start, end, _ in checked.runs) == kept
    assert sum(count for *_, count in checked.runs) == len(lines) - len(rejected)
    for chromosome, start, end, count in checked.runs:
        assert {line.split(b"\t")[1] for line in block[start:end].splitlines()} == {chromosome}
        assert block[start:end].count(b"\n") == count
