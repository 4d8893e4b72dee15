"""The query API and page: a Deployment of the UI image behind one Service.

Each pod runs the image twice, as the local environment does: `front`
(nginx, snapthunder_api/front_end.py) on port 8000, which reads whole requests
whatever the count of slow or idle sockets and passes them to `api` (gunicorn)
on the pod's loopback, 127.0.0.1:8001. Two containers, not one: each process
has its own liveness probe, so a dead gunicorn restarts only gunicorn, and
its own resources. Only `api` gets the endpoints document as the read-only
role (a Secret mounted as a file, its path in `SNAPTHUNDER_ENDPOINTS`), so the
API can query every shard and can never write, and holds no loader password.
The Service exposes the front on port 80 as ClusterIP (reach it with
`kubectl port-forward`), NodePort, or a LoadBalancer open only to the
configured source ranges. With more than one replica, the pods prefer
different nodes and a disruption budget lets drains stop them one at a time.
"""

from __future__ import annotations

import dataclasses

import pulumi
import pulumi_kubernetes as kubernetes

import workloads
from settings import ContainerResources

SERVICE_NAME = f"{workloads.APP}-ui"
SERVICE_PORT = 80
# The API settings' `bind` and `app_bind` defaults (images/ui/snapthunder_api/settings.py; a test keeps them
# equal): infra/ runs without the image's packages, so it cannot read them.
FRONT_PORT = 8000
APP_ADDRESS = "127.0.0.1:8001"
# Under the front's own /tmp: nginx writes its pid and temporary files beside its configuration.
FRONT_CONF = "/tmp/front/nginx.conf"
ENDPOINTS_DIRECTORY = "/etc/snapthunder"
ENDPOINTS_FILE = "endpoints.json"
ENDPOINTS_PATH = f"{ENDPOINTS_DIRECTORY}/{ENDPOINTS_FILE}"
ENDPOINTS_VARIABLE = "SNAPTHUNDER_ENDPOINTS"


def service_url(namespace: str) -> str:
    """The API's address inside the cluster (the document's `api_url`)."""
    return f"http://{SERVICE_NAME}.{namespace}.svc.cluster.local:{SERVICE_PORT}"


@dataclasses.dataclass(frozen=True)
class UiArgs:
    namespace: pulumi.Input[str]
    image: pulumi.Input[str]
    pull_policy: str
    reader_document: pulumi.Input[str]
    plan_digest: str
    replicas: int
    resources: ContainerResources
    front_resources: ContainerResources
    service_type: str
    source_ranges: tuple[str, ...]


class Ui(pulumi.ComponentResource):
    """The API/UI pods, their endpoints Secret and their Service."""

    def __init__(self, name: str, args: UiArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("snapthunder:infra:Ui", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = workloads.labels(workloads.UI)
        secret = kubernetes.core.v1.Secret(
            "ui-endpoints",
            metadata=workloads.metadata(f"{SERVICE_NAME}-endpoints", args.namespace, labels),
            string_data={ENDPOINTS_FILE: args.reader_document},
            opts=child,
        )
        kubernetes.apps.v1.Deployment(
            "ui",
            metadata=workloads.metadata(SERVICE_NAME, args.namespace, labels),
            spec=kubernetes.apps.v1.DeploymentSpecArgs(
                replicas=args.replicas,
                selector=kubernetes.meta.v1.LabelSelectorArgs(match_labels=labels),
                template=kubernetes.core.v1.PodTemplateSpecArgs(
                    # The API reads the document at start: a new shard plan must restart it.
                    metadata=workloads.pod_metadata(labels, {workloads.PLAN_ANNOTATION: args.plan_digest}),
                    spec=_pod(args, labels, secret.metadata.name),
                ),
            ),
            opts=child,
        )
        if args.replicas > 1:
            # With one pod there is nothing to keep serving during a drain: a budget could only block it.
            workloads.disruption_budget("ui", args.namespace, labels, child)
        self.service = kubernetes.core.v1.Service(
            "ui",
            metadata=workloads.metadata(SERVICE_NAME, args.namespace, labels),
            spec=kubernetes.core.v1.ServiceSpecArgs(
                type=args.service_type,
                selector=labels,
                ports=[kubernetes.core.v1.ServicePortArgs(name="http", port=SERVICE_PORT, target_port="http")],
                load_balancer_source_ranges=list(args.source_ranges) or None,
            ),
            opts=child,
        )
        self.register_outputs({"service": self.service.metadata.name})


def _pod(args: UiArgs, labels: dict[str, str], secret_name: pulumi.Input[str]) -> kubernetes.core.v1.PodSpecArgs:
    endpoints_volume, endpoints_mount = workloads.secret_files_volume(
        "endpoints", ENDPOINTS_DIRECTORY, [(secret_name, {ENDPOINTS_FILE: ENDPOINTS_FILE})])
    # A /tmp each, so neither container can write the other's files (the front's configuration among them).
    front_tmp_volume, front_tmp_mount = workloads.scratch_volume("front-tmp", "/tmp", size_limit="64Mi")
    tmp_volume, tmp_mount = workloads.scratch_volume("tmp", "/tmp")
    front = kubernetes.core.v1.ContainerArgs(
        name="front",
        image=args.image,
        image_pull_policy=args.pull_policy,
        command=["python", "-m", "snapthunder_api.front_end", FRONT_CONF],
        ports=[kubernetes.core.v1.ContainerPortArgs(name="http", container_port=FRONT_PORT)],
        volume_mounts=[front_tmp_mount],
        resources=workloads.resources(args.front_resources),
        security_context=workloads.container_security(),
        # Ready: a request passes through the front and the app (/readyz: 200 even with a shard down).
        # Alive: nginx accepts connections; whether gunicorn answers is the api container's own probe.
        readiness_probe=workloads.http_probe("/readyz", "http", period_seconds=10, failure_threshold=3),
        liveness_probe=workloads.tcp_probe("http", period_seconds=20, failure_threshold=3),
    )
    api = kubernetes.core.v1.ContainerArgs(
        name="api",
        image=args.image,   # its CMD: gunicorn, on APP_ADDRESS
        image_pull_policy=args.pull_policy,
        env=[kubernetes.core.v1.EnvVarArgs(name=ENDPOINTS_VARIABLE, value=ENDPOINTS_PATH)],
        volume_mounts=[endpoints_mount, tmp_mount],
        resources=workloads.resources(args.resources),
        security_context=workloads.container_security(),
        # The kubelet cannot reach the pod's loopback, so the probe runs inside the container (timeout under
        # the probe's 5 s). /healthz: the process serves. No readiness of its own: the front's goes through it.
        liveness_probe=workloads.command_probe(
            ["python", "-c",
             f"import urllib.request; urllib.request.urlopen('http://{APP_ADDRESS}/healthz', timeout=4)"],
            period_seconds=20, failure_threshold=3),
    )
    return workloads.pod_spec(workloads.UI_USER_ID, [front, api], [endpoints_volume, front_tmp_volume, tmp_volume],
                              topology_spread_constraints=[_spread_over_nodes(labels)])


def _spread_over_nodes(labels: dict[str, str]) -> kubernetes.core.v1.TopologySpreadConstraintArgs:
    """Put the replicas on different nodes where there are nodes to spare, so one node's loss leaves the API up.

    A preference (ScheduleAnyway), not a rule: a cluster with fewer nodes than
    replicas, or nodes tainted for other work, still runs every replica.
    pod-template-hash counts only the pods of the current ReplicaSet, so a
    rolling update spreads its new pods as well.
    """
    return kubernetes.core.v1.TopologySpreadConstraintArgs(
        max_skew=1,
        topology_key="kubernetes.io/hostname",
        when_unsatisfiable="ScheduleAnyway",
        label_selector=kubernetes.meta.v1.LabelSelectorArgs(match_labels=labels),
        match_label_keys=["pod-template-hash"],
    )
