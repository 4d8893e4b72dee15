"""The in-cluster load: a Job that runs the loader on `loadUrl`, when it is set.

The Job runs `python -m loaders URL --compilation FIRST --outputs FILE` (the
first of the stack's compilations) from the UI image (which
carries the loader), with the full endpoints document, loader credentials
included, mounted from a Secret of its own; its pods carry the loader label,
which the shards' network policy admits. `pulumi up` waits for the Job to
finish and reports a failed load.

A Job's pod template cannot change, so a new URL, image or shard plan replaces
the Job, which loads again: the loader replaces the chromosomes it loads, so
running it twice leaves one copy of each row.
"""

from __future__ import annotations

import dataclasses

import pulumi
import pulumi_kubernetes as kubernetes

import ui
import workloads
from settings import ContainerResources

JOB_NAME = f"{workloads.APP}-load"
# Loading a whole compilation (tens of millions of junctions) takes a while.
TIMEOUT = "3h"
RETRIES = 2


@dataclasses.dataclass(frozen=True)
class LoadJobArgs:
    namespace: pulumi.Input[str]
    image: pulumi.Input[str]
    pull_policy: str
    url: str
    compilation: str
    loader_document: pulumi.Input[str]
    plan_digest: str
    resources: ContainerResources


class LoadJob(pulumi.ComponentResource):
    """One run of the loader inside the cluster, next to the shards."""

    def __init__(self, name: str, args: LoadJobArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("snapthunder:infra:LoadJob", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = workloads.labels(workloads.LOADER)
        secret = kubernetes.core.v1.Secret(
            "load-endpoints",
            metadata=workloads.metadata(f"{JOB_NAME}-endpoints", args.namespace, labels),
            string_data={ui.ENDPOINTS_FILE: args.loader_document},
            opts=child,
        )
        endpoints_volume, endpoints_mount = workloads.secret_files_volume(
            "endpoints", ui.ENDPOINTS_DIRECTORY, [(secret.metadata.name, {ui.ENDPOINTS_FILE: ui.ENDPOINTS_FILE})])
        tmp_volume, tmp_mount = workloads.scratch_volume("tmp", "/tmp", size_limit="1Gi")
        container = kubernetes.core.v1.ContainerArgs(
            name="loader",
            image=args.image,
            image_pull_policy=args.pull_policy,
            command=["python", "-m", "loaders", args.url, "--compilation", args.compilation,
                     "--outputs", ui.ENDPOINTS_PATH],
            # The loader writes its rejects file (bad lines, with reasons) into the working directory.
            working_dir="/tmp",
            volume_mounts=[endpoints_mount, tmp_mount],
            resources=workloads.resources(args.resources),
            security_context=workloads.container_security(),
        )
        self.job = kubernetes.batch.v1.Job(
            "load",
            metadata=workloads.metadata(JOB_NAME, args.namespace, labels),
            spec=kubernetes.batch.v1.JobSpecArgs(
                backoff_limit=RETRIES,
                template=kubernetes.core.v1.PodTemplateSpecArgs(
                    # Resharding moves chromosomes between shards: it must load again.
                    metadata=workloads.pod_metadata(labels, {workloads.PLAN_ANNOTATION: args.plan_digest}),
                    spec=workloads.pod_spec(workloads.UI_USER_ID, [container], [endpoints_volume, tmp_volume],
                                            restart_policy="Never"),
                ),
            ),
            opts=pulumi.ResourceOptions(
                parent=self, delete_before_replace=True,
                custom_timeouts=pulumi.CustomTimeouts(create=TIMEOUT, update=TIMEOUT),
            ),
        )
        self.register_outputs({"job": self.job.metadata.name})
