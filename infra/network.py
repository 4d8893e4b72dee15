"""The deployment's boundary: its namespace and who may reach the shards.

The namespace (unless it already exists) enforces the "restricted" Pod
Security Standard, so a pod that would run as root or keep capabilities is
refused by the cluster itself; while volumes are to outlive the stack,
`pulumi destroy` leaves it in place, as deleting it would delete them. NetworkPolicies deny every snapthunder pod all
incoming connections but these: the shards' PostgreSQL port from pods labelled
as the UI or the loader (nothing else in the cluster can even try a
password), and the UI's HTTP port. The load Job's pods accept none. Outgoing
traffic is not restricted: the load Job downloads from `loadUrl`.
(`kubectl port-forward` enters the pod's own network namespace, so loading
from a laptop still works.)
"""

from __future__ import annotations

import dataclasses

import pulumi
import pulumi_kubernetes as kubernetes

import ui
import workloads
from snapthunder import shard_image

POD_SECURITY_LEVEL = "restricted"


@dataclasses.dataclass(frozen=True)
class IsolationArgs:
    namespace: str
    create_namespace: bool
    keep_volumes: bool


class Isolation(pulumi.ComponentResource):
    """The namespace every object lives in, and the network policies of its pods."""

    namespace: pulumi.Output[str]

    def __init__(self, name: str, args: IsolationArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("snapthunder:infra:Isolation", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        if args.create_namespace:
            namespace = kubernetes.core.v1.Namespace(
                "namespace",
                metadata=workloads.metadata(args.namespace, None, {
                    workloads.NAME_LABEL: workloads.APP,
                    "pod-security.kubernetes.io/enforce": POD_SECURITY_LEVEL,
                    "pod-security.kubernetes.io/warn": POD_SECURITY_LEVEL,
                }),
                # Deleting a namespace deletes the volume claims in it, whatever the StatefulSets'
                # retention policy says: so volumes that must outlive the stack keep their namespace.
                opts=pulumi.ResourceOptions(parent=self, retain_on_delete=args.keep_volumes),
            )
            # Everything declared in it then waits for the namespace to exist.
            self.namespace = namespace.metadata.name
        else:
            self.namespace = pulumi.Output.from_input(args.namespace)
        every_pod = {workloads.NAME_LABEL: workloads.APP}
        self._policy("no-ingress", every_pod, [], child)
        shard_clients = kubernetes.networking.v1.NetworkPolicyPeerArgs(
            pod_selector=kubernetes.meta.v1.LabelSelectorArgs(
                match_labels=every_pod,
                match_expressions=[kubernetes.meta.v1.LabelSelectorRequirementArgs(
                    key=workloads.COMPONENT_LABEL, operator="In", values=[workloads.UI, workloads.LOADER],
                )],
            ),
        )
        self._policy("shard-clients", workloads.labels(workloads.SHARD),
                     [kubernetes.networking.v1.NetworkPolicyIngressRuleArgs(
                         from_=[shard_clients], ports=[_tcp(shard_image.PORT)])], child)
        # No `from`: the API answers whoever its Service lets through (a LoadBalancer filters by source range).
        self._policy("ui-http", workloads.labels(workloads.UI),
                     [kubernetes.networking.v1.NetworkPolicyIngressRuleArgs(ports=[_tcp(ui.CONTAINER_PORT)])], child)
        self.register_outputs({"namespace": self.namespace})

    def _policy(self, name: str, pods: dict[str, str],
                ingress: list[kubernetes.networking.v1.NetworkPolicyIngressRuleArgs],
                opts: pulumi.ResourceOptions) -> None:
        """Ingress to `pods` only as `ingress` allows (policies add up: a pod gets what any of them allows)."""
        kubernetes.networking.v1.NetworkPolicy(
            name,
            metadata=workloads.metadata(f"{workloads.APP}-{name}", self.namespace,
                                        {workloads.NAME_LABEL: workloads.APP}),
            spec=kubernetes.networking.v1.NetworkPolicySpecArgs(
                pod_selector=kubernetes.meta.v1.LabelSelectorArgs(match_labels=pods),
                policy_types=["Ingress"],
                ingress=ingress,
            ),
            opts=opts,
        )


def _tcp(port: int) -> kubernetes.networking.v1.NetworkPolicyPortArgs:
    return kubernetes.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=port)
