"""Updating and destroying a stack: what happens to the shards that exist.

Pulumi replaces or deletes a resource whose logical name disappears, and a
StatefulSet's volume goes with its claim: so going from 4 shards to 5 must
add shard-4 and leave shard-0..3 exactly as they were (names, Secrets,
passwords, pod templates: no restart either), while the UI and a load Job,
which depend on the plan, roll. On destroy, volumes (and the namespace that
holds their claims) stay unless `deleteVolumesOnDestroy` says otherwise.
"""

from __future__ import annotations

import pytest

from tests.infra_harness import Deployment, run_program

PLAN_ANNOTATION = "snapthunder.io/shard-plan"


def logical_names(deployment: Deployment) -> set[tuple[str, str]]:
    return {(resource.type, resource.name) for resource in deployment.resources}


def manifests_by_name(deployment: Deployment) -> dict[tuple[str, str], dict]:
    return {(item["kind"], item["metadata"]["name"]): item for item in deployment.manifests}


def test_four_to_five_shards_adds_shard_4_and_nothing_else() -> None:
    four, five = run_program({"shards": "4"}), run_program({"shards": "5"})
    assert logical_names(four) <= logical_names(five)
    assert {name for _, name in logical_names(five) - logical_names(four)} == {
        "shard-4", "shard-4-credentials", "shard-4-superuser-password", "shard-4-loader-password"}


@pytest.mark.parametrize("shard", ["shard-0", "shard-1", "shard-2", "shard-3"])
def test_four_to_five_shards_leaves_the_existing_shards_untouched(shard: str) -> None:
    before, after = (manifests_by_name(run_program({"shards": count})) for count in ("4", "5"))
    name = f"snapthunder-{shard}"
    for kind, object_name in (("Service", name), ("Secret", f"{name}-credentials")):
        assert before[(kind, object_name)] == after[(kind, object_name)]
    statefulset_before, statefulset_after = before[("StatefulSet", name)], after[("StatefulSet", name)]
    assert statefulset_before["spec"] == statefulset_after["spec"], "a changed pod template would restart the shard"


def test_a_new_plan_rolls_the_ui_and_replaces_the_load_job() -> None:
    url = {"loadUrl": "https://example.org/junctions.bgz"}
    four, five = (manifests_by_name(run_program({"shards": count, **url})) for count in ("4", "5"))
    for key in (("Deployment", "snapthunder-ui"), ("Job", "snapthunder-load")):
        annotation_before = four[key]["spec"]["template"]["metadata"]["annotations"][PLAN_ANNOTATION]
        annotation_after = five[key]["spec"]["template"]["metadata"]["annotations"][PLAN_ANNOTATION]
        assert annotation_before != annotation_after, key


def test_the_same_config_declares_the_same_objects() -> None:
    first = run_program({"shards": "3", "compilations": '["tcga"]'})
    second = run_program({"compilations": '["tcga"]', "shards": "3", "namespace": "snapthunder"})
    assert manifests_by_name(first) == manifests_by_name(second)


@pytest.mark.parametrize(("delete_volumes", "kept"), [("false", True), ("true", False)])
def test_destroy_keeps_the_namespace_exactly_when_it_keeps_the_volumes(delete_volumes: str, kept: bool) -> None:
    deployment = run_program({"deleteVolumesOnDestroy": delete_volumes})
    assert bool(deployment.options[("kubernetes:core/v1:Namespace", "namespace")].retain_on_delete) == kept
    policy = "Retain" if kept else "Delete"
    for statefulset in deployment.kind("StatefulSet"):
        retention = statefulset["spec"]["persistentVolumeClaimRetentionPolicy"]
        assert retention == {"whenDeleted": policy, "whenScaled": policy}


def test_the_load_job_starts_after_the_shards_and_is_replaced_when_it_changes() -> None:
    deployment = run_program({"loadUrl": "https://example.org/junctions.bgz"})
    component = deployment.options[("snapthunder:infra:LoadJob", "load")]
    assert {type(dependency).__name__ for dependency in component.depends_on} == {"ShardSet", "Isolation"}
    job = deployment.options[("kubernetes:batch/v1:Job", "load")]
    assert job.delete_before_replace
    assert (job.custom_timeouts.create, job.custom_timeouts.update) == ("3h", "3h")
