"""The shard plan: coverage, balance, determinism, routing of every kind of name."""

import pytest

from snapthunder.plan import CHROMOSOMES, GRCH38_LENGTHS, PER_CHROMOSOME, PlanError, ShardPlan, plan_shards

SETTINGS = [1, 2, 4, 7, 25, PER_CHROMOSOME]


@pytest.mark.parametrize("setting", SETTINGS)
def test_every_chromosome_is_on_exactly_one_shard(setting):
    plan = plan_shards(setting)
    placed = [chromosome for chromosomes in plan.shards.values() for chromosome in chromosomes]
    assert sorted(placed) == sorted(CHROMOSOMES)
    assert all(plan.shard_for(chromosome) in plan.shards for chromosome in CHROMOSOMES)
    assert plan.chromosome_shards == {c: s for s, cs in plan.shards.items() for c in cs}


@pytest.mark.parametrize("count", [1, 2, 4, 7, 25])
def test_a_count_gives_that_many_nonempty_shards_named_by_index(count):
    plan = plan_shards(count)
    assert list(plan.shards) == [f"shard-{index}" for index in range(count)]
    assert all(plan.shards.values())


@pytest.mark.parametrize("count, tolerance", [(2, 0.01), (4, 0.02), (7, 0.12)])
def test_shards_are_balanced_by_chromosome_length(count, tolerance):
    plan = plan_shards(count)
    loads = [sum(GRCH38_LENGTHS[c] for c in chromosomes) for chromosomes in plan.shards.values()]
    mean = sum(loads) / count
    assert max(loads) / mean - 1 <= tolerance


def test_per_chromosome_mode_has_one_shard_per_chromosome_with_readable_names():
    plan = plan_shards(PER_CHROMOSOME)
    assert len(plan.shards) == 25
    assert plan.shards["shard-chr1"] == ("chr1",)
    assert plan.shards["shard-chrx"] == ("chrX",)
    assert plan.catch_all == "shard-chrm"
    assert all(name == name.lower() for name in plan.shards)


@pytest.mark.parametrize("setting", SETTINGS)
def test_the_plan_is_deterministic(setting):
    assert plan_shards(setting) == plan_shards(setting)
    assert plan_shards(str(setting)) == plan_shards(setting)


@pytest.mark.parametrize("setting", SETTINGS)
def test_contigs_go_with_their_parent_and_unknown_names_to_the_catch_all(setting):
    plan = plan_shards(setting)
    assert plan.shard_for("chr1_KI270706v1_random") == plan.shard_for("chr1")
    assert plan.shard_for("chr14_GL000009v2_random") == plan.shard_for("chr14")
    assert plan.shard_for("chr19_KI270938v1_alt") == plan.shard_for("chr19")
    assert plan.shard_for("chrX_KV766199v1_fix") == plan.shard_for("chrX")
    for name in ("chrUn_GL000220v1", "chrEBV", "scaffold_7", "1", "chr23", "chr1_", "chr99_KI270706v1_random", ""):
        assert plan.shard_for(name) == plan.catch_all == plan.shard_for("chrM")


@pytest.mark.parametrize("bad", [0, 26, -1, "three", "", None, 2.5, True])
def test_a_bad_setting_names_the_allowed_values(bad):
    with pytest.raises(PlanError, match="integer from 1 to 25, or 'per-chromosome'"):
        plan_shards(bad)


def test_a_plan_refuses_a_chromosome_on_two_shards_or_a_missing_catch_all():
    with pytest.raises(PlanError, match="chr1 is in both"):
        ShardPlan({"a": ("chr1",), "b": ("chr1",)}, catch_all="a")
    with pytest.raises(PlanError, match="catch-all"):
        ShardPlan({"a": ("chr1",)}, catch_all="b")
