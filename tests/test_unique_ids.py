"""SeenIds, the loader's memory of routed snaptron_ids: repeats within a block, across blocks, above the bitmap."""

import numpy

from loaders.unique_ids import BITMAP_IDS, SeenIds


def ids(*values: int) -> numpy.ndarray:
    return numpy.array(values, numpy.int64)


def test_ids_sharing_a_bitmap_byte_are_all_recorded():
    seen = SeenIds()
    assert seen.first_repeat(ids(0, 1, 2, 3, 4, 5, 6, 7, 9)) is None
    assert [seen.first_repeat(ids(value)) for value in range(10)] == [(0, None)] * 8 + [None, (0, None)]


def test_a_repeat_within_a_block_names_both_positions_and_the_first_repeat_wins():
    assert SeenIds().first_repeat(ids(10, 11, 12, 11, 10)) == (3, 1)
    seen = SeenIds()
    seen.first_repeat(ids(40))
    assert seen.first_repeat(ids(5, 6, 6, 40)) == (2, 1)
    assert seen.first_repeat(ids(5, 40, 6, 6)) == (1, None)


def test_ids_above_the_bitmap_are_remembered_too():
    seen = SeenIds()
    high = BITMAP_IDS + 3
    assert seen.first_repeat(ids(3, high, high + 8)) is None
    assert seen.first_repeat(ids(high + 1, high + 8)) == (1, None)
    assert seen.first_repeat(ids(high - BITMAP_IDS + 1)) is None   # shares no bit with `high`
