"""The pieces every snapthunder object is built from: names, labels, security, probes, resources.

Shards, the UI and the load Job all take their labels, security contexts,
probes, resource requirements, scratch volumes and Secret files from here, so
the network policy's selectors, the "restricted" Pod Security Standard, the
probe timings and how secrets reach a container are decided once for the
whole deployment.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as kubernetes

from settings import ContainerResources
from snapthunder.plan import ShardPlan

APP = "snapthunder"
NAME_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"
SHARD_LABEL = "snapthunder.io/shard"
PLAN_ANNOTATION = "snapthunder.io/shard-plan"

SHARD = "shard"
UI = "ui"
LOADER = "loader"

# The official postgres image's `postgres` user, and the UI image's own user.
POSTGRES_USER_ID = 999
UI_USER_ID = 10001


def labels(component: str, shard: str | None = None) -> dict[str, str]:
    """The labels of a component's pods, which are also its selectors.

    Only identity goes in here (never a version or a config value), because a
    StatefulSet's or Deployment's selector cannot change after creation.
    """
    result = {NAME_LABEL: APP, COMPONENT_LABEL: component}
    if shard is not None:
        result[SHARD_LABEL] = shard
    return result


def plan_digest(plan: ShardPlan) -> str:
    """A short digest of which shard holds which chromosome.

    Put on pod templates whose behaviour depends on the plan (the UI, the load
    Job), it rolls or replaces them when the shard setting changes, without
    putting any secret in an annotation.
    """
    canonical = json.dumps({"shards": plan.shards, "catch_all": plan.catch_all}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def metadata(name: str | None, namespace: pulumi.Input[str] | None, labels: dict[str, str],
             annotations: dict[str, str] | None = None) -> kubernetes.meta.v1.ObjectMetaArgs:
    """A fixed name (clients, port-forwards and volume claims rely on it) in the deployment's namespace."""
    return kubernetes.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=labels, annotations=annotations)


def pod_metadata(labels: dict[str, str],
                 annotations: dict[str, str] | None = None) -> kubernetes.meta.v1.ObjectMetaArgs:
    """A pod template's metadata: the labels its controller selects, and what rolls the pods when it changes."""
    return metadata(None, None, labels, annotations)


def pod_security(user_id: int) -> kubernetes.core.v1.PodSecurityContextArgs:
    """Run as a fixed non-root user whose group owns the mounted volumes."""
    return kubernetes.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=user_id,
        run_as_group=user_id,
        fs_group=user_id,
        seccomp_profile=kubernetes.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def container_security() -> kubernetes.core.v1.SecurityContextArgs:
    """The "restricted" Pod Security Standard, plus a read-only root filesystem.

    Every container writes only to its volumes (data, /tmp, sockets), so an
    intruder cannot alter the image's files.
    """
    return kubernetes.core.v1.SecurityContextArgs(
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        capabilities=kubernetes.core.v1.CapabilitiesArgs(drop=["ALL"]),
    )


def resources(settings: ContainerResources) -> kubernetes.core.v1.ResourceRequirementsArgs:
    return kubernetes.core.v1.ResourceRequirementsArgs(
        requests={"cpu": settings.cpu_request, "memory": settings.memory_request,
                  "ephemeral-storage": settings.ephemeral_storage_request},
        limits={"cpu": settings.cpu_limit, "memory": settings.memory_limit,
                "ephemeral-storage": settings.ephemeral_storage_limit},
    )


def command_probe(command: list[str], period_seconds: int, failure_threshold: int) -> kubernetes.core.v1.ProbeArgs:
    return kubernetes.core.v1.ProbeArgs(
        exec_=kubernetes.core.v1.ExecActionArgs(command=command),
        period_seconds=period_seconds, timeout_seconds=5, failure_threshold=failure_threshold,
    )


def http_probe(path: str, port: str, period_seconds: int, failure_threshold: int) -> kubernetes.core.v1.ProbeArgs:
    return kubernetes.core.v1.ProbeArgs(
        http_get=kubernetes.core.v1.HTTPGetActionArgs(path=path, port=port),
        period_seconds=period_seconds, timeout_seconds=5, failure_threshold=failure_threshold,
    )


def tcp_probe(port: str, period_seconds: int, failure_threshold: int) -> kubernetes.core.v1.ProbeArgs:
    """Alive while the port accepts connections: for a proxy, whose own health is not its backend's."""
    return kubernetes.core.v1.ProbeArgs(
        tcp_socket=kubernetes.core.v1.TCPSocketActionArgs(port=port),
        period_seconds=period_seconds, timeout_seconds=5, failure_threshold=failure_threshold,
    )


def scratch_volume(name: str, path: str, size_limit: str = "256Mi",
                   in_memory: bool = False) -> tuple[kubernetes.core.v1.VolumeArgs, kubernetes.core.v1.VolumeMountArgs]:
    """A writable emptyDir and its mount, for the paths a read-only root filesystem leaves unwritable."""
    volume = kubernetes.core.v1.VolumeArgs(
        name=name,
        empty_dir=kubernetes.core.v1.EmptyDirVolumeSourceArgs(medium="Memory" if in_memory else None,
                                                              size_limit=size_limit),
    )
    return volume, kubernetes.core.v1.VolumeMountArgs(name=name, mount_path=path)


def secret_files_volume(
    name: str, directory: str, secrets: Sequence[tuple[pulumi.Input[str], Mapping[str, str]]],
) -> tuple[kubernetes.core.v1.VolumeArgs, kubernetes.core.v1.VolumeMountArgs]:
    """Keys of Secrets as files in one read-only directory, readable by the pod's user and group only.

    Secrets reach snapthunder containers only this way, never as environment
    values, which every child process inherits and /proc/PID/environ shows.
    `secrets` pairs each Secret's name with its keys and the file names they get:
    a projected volume, so that files from several Secrets (a shard's own
    passwords and the shared reader password) sit side by side in the directory
    the program reading them expects.
    """
    volume = kubernetes.core.v1.VolumeArgs(
        name=name,
        projected=kubernetes.core.v1.ProjectedVolumeSourceArgs(
            default_mode=0o440,
            sources=[
                kubernetes.core.v1.VolumeProjectionArgs(secret=kubernetes.core.v1.SecretProjectionArgs(
                    name=secret_name,
                    items=[kubernetes.core.v1.KeyToPathArgs(key=key, path=path) for key, path in files.items()],
                ))
                for secret_name, files in secrets
            ],
        ),
    )
    return volume, kubernetes.core.v1.VolumeMountArgs(name=name, mount_path=directory, read_only=True)


def disruption_budget(name: str, namespace: pulumi.Input[str], pods: dict[str, str],
                      opts: pulumi.ResourceOptions) -> kubernetes.policy.v1.PodDisruptionBudget:
    """Let voluntary evictions (node drains, cluster upgrades) take `pods` down one at a time.

    maxUnavailable 1, not minAvailable: it holds for any replica count, and
    never blocks a drain forever (maxUnavailable 0, or minAvailable equal to
    the replicas, would leave a node undrainable). Each further eviction waits
    until the pod evicted before is ready again elsewhere. A pod that is not
    ready serves nothing, so it may always be evicted (AlwaysAllow): a broken
    pod never holds up a drain.
    """
    return kubernetes.policy.v1.PodDisruptionBudget(
        name,
        metadata=metadata(f"{APP}-{name}", namespace, pods),
        spec=kubernetes.policy.v1.PodDisruptionBudgetSpecArgs(
            max_unavailable=1,
            selector=kubernetes.meta.v1.LabelSelectorArgs(match_labels=pods),
            unhealthy_pod_eviction_policy="AlwaysAllow",
        ),
        opts=opts,
    )


def pod_spec(user_id: int, containers: list[kubernetes.core.v1.ContainerArgs],
             volumes: list[kubernetes.core.v1.VolumeArgs], **extra) -> kubernetes.core.v1.PodSpecArgs:
    """A pod that runs as `user_id` without a service-account token: no snapthunder pod talks to the Kubernetes API."""
    return kubernetes.core.v1.PodSpecArgs(
        security_context=pod_security(user_id),
        automount_service_account_token=False,
        enable_service_links=False,
        containers=containers,
        volumes=volumes,
        **extra,
    )
