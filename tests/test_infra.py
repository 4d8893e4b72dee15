"""The Pulumi program (infra/), run for real under Pulumi's mocks, in every shape it deploys.

Each scenario runs infra/__main__.py in-process with a stack config — none at
all, Pulumi.dev.yaml's, Pulumi.prod.yaml's, and several shard counts — and
checks the Kubernetes objects it declares and the outputs it exports: one
server per shard, selectors that select, no password outside a Secret nor in
any environment (Secrets are mounted as files, where the shard image's contract
says), probes, resources (ephemeral storage too) and security contexts everywhere,
network policies that bound what each pod may reach and be reached by,
disruption budgets that let drains proceed one pod at a time, the UI pod as nginx
in front of gunicorn (two containers, each with its own probes and resources), UI replicas
spread over nodes, manifests the API server's schema accepts, and an endpoints
document that covers every chromosome once.
"""

from __future__ import annotations

import json
from typing import Any

import kubernetes_validate
import pytest

from tests.infra_harness import CHECKED_KUBERNETES_VERSIONS, IMAGE_TYPE, Deployment, run_program, stack_config
from snapthunder import shard_image
from snapthunder.endpoints import Endpoints
from snapthunder.plan import CHROMOSOMES, GENOME_CHROMOSOMES, plan_shards
from snapthunder_api.settings import BY_NAME as API_SETTINGS

SCENARIOS = {
    "no config": {},
    "dev": stack_config("dev"),
    "prod": stack_config("prod"),
    "1 shard": {"shards": "1"},
    "4 shards": {"shards": "4"},
    "5 shards": {"shards": "5"},
    "per-chromosome": {"shards": "per-chromosome"},
    "given images": {"buildImages": "false", "shardImage": "registry.example/shard:1.0",
                     "uiImage": "registry.example/ui:1.0"},
    "several compilations": {"compilations": '["gtex", "tcga:TCGA", "srav1m:srav1m:mm10"]',
                             "loadUrl": "https://example.org/gtex/junctions.bgz"},
}
WORKLOAD_KINDS = ("StatefulSet", "Deployment", "Job")


@pytest.fixture(params=list(SCENARIOS), scope="module")
def scenario(request: pytest.FixtureRequest) -> tuple[dict[str, str], Deployment]:
    config = SCENARIOS[request.param]
    return config, run_program(config)


def pod_templates(deployment: Deployment) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(workload manifest, its pod template) for every StatefulSet, Deployment and Job."""
    return [(item, item["spec"]["template"]) for kind in WORKLOAD_KINDS for item in deployment.kind(kind)]


def containers(deployment: Deployment) -> list[tuple[str, dict[str, Any]]]:
    return [(workload["kind"], container)
            for workload, template in pod_templates(deployment) for container in template["spec"]["containers"]]


def mounted_secret_files(pod: dict[str, Any], container: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Every Secret file `container` sees: its path → (Secret, key); each mount read-only, each file 0440."""
    mounts = {mount["name"]: mount for mount in container["volumeMounts"]}
    files = {}
    for volume in pod["volumes"]:
        if "projected" not in volume or volume["name"] not in mounts:
            continue
        mount, projected = mounts[volume["name"]], volume["projected"]
        assert mount["readOnly"] is True and projected["defaultMode"] == 0o440, volume
        for source in projected["sources"]:
            for item in source["secret"]["items"]:
                files[f"{mount['mountPath']}/{item['path']}"] = (source["secret"]["name"], item["key"])
    return files


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def by_name(deployment: Deployment, kind: str) -> dict[str, dict[str, Any]]:
    return {item["metadata"]["name"]: item for item in deployment.kind(kind)}


def test_one_statefulset_headless_service_and_secret_per_shard(scenario) -> None:
    config, deployment = scenario
    plan = plan_shards(config.get("shards", "2"))
    statefulsets, services, secrets = (by_name(deployment, kind) for kind in ("StatefulSet", "Service", "Secret"))
    assert len(statefulsets) == len(plan.shards)
    for shard in plan.shards:
        name = f"snapthunder-{shard}"
        statefulset = statefulsets[name]
        assert statefulset["spec"]["replicas"] == 1
        assert statefulset["spec"]["serviceName"] == name
        [claim] = statefulset["spec"]["volumeClaimTemplates"]
        assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
        assert services[name]["spec"]["clusterIP"] == "None"
        assert services[name]["spec"]["ports"] == [{"name": "postgres", "port": 5432, "targetPort": "postgres"}]
        assert set(secrets[f"{name}-credentials"]["stringData"]) == {"superuser-password", "loader-password"}
    assert set(secrets["snapthunder-reader"]["stringData"]) == {"password"}


def test_every_selector_matches_its_pods_and_every_long_running_pod_has_a_service(scenario) -> None:
    _, deployment = scenario
    services = deployment.kind("Service")
    for workload, template in pod_templates(deployment):
        labels = template["metadata"]["labels"]
        if workload["kind"] != "Job":
            assert selects(workload["spec"]["selector"]["matchLabels"], labels), workload["metadata"]["name"]
            assert sum(selects(service["spec"]["selector"], labels) for service in services) == 1
    all_pod_labels = [template["metadata"]["labels"] for _, template in pod_templates(deployment)]
    for service in services:
        assert any(selects(service["spec"]["selector"], labels) for labels in all_pod_labels), \
            service["metadata"]["name"]


def admitted_sources(deployment: Deployment, pod_labels: dict[str, str]) -> dict[int, set[str]]:
    """Port → the components allowed to connect to a pod (`*`: anyone), by the union of the policies selecting it."""
    allowed: dict[int, set[str]] = {}
    for policy in deployment.kind("NetworkPolicy"):
        if "Ingress" not in policy["spec"]["policyTypes"]:
            continue
        if not selects(policy["spec"]["podSelector"]["matchLabels"], pod_labels):
            continue
        for rule in policy["spec"].get("ingress", []):
            sources = {"*"}
            if "from" in rule:
                [peer] = rule["from"]
                assert peer["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "snapthunder"}
                [expression] = peer["podSelector"]["matchExpressions"]
                assert (expression["key"], expression["operator"]) == ("app.kubernetes.io/component", "In")
                sources = set(expression["values"])
            for port in rule["ports"]:
                assert port["protocol"] == "TCP"
                allowed.setdefault(port["port"], set()).update(sources)
    return allowed


def test_network_policies_admit_the_ui_and_loader_to_the_shards_anyone_to_the_ui_and_nothing_else(scenario) -> None:
    _, deployment = scenario
    expected = {"shard": {5432: {"ui", "loader"}}, "ui": {8000: {"*"}}, "loader": {}}
    for workload, template in pod_templates(deployment):
        labels = template["metadata"]["labels"]
        policies = deployment.kind("NetworkPolicy")
        assert any(selects(policy["spec"]["podSelector"]["matchLabels"], labels) for policy in policies)
        component = labels["app.kubernetes.io/component"]
        assert admitted_sources(deployment, labels) == expected[component], workload["metadata"]["name"]


def destination(peer: dict[str, Any]) -> str:
    """What an egress peer names: `shard` pods, `dns` (kube-dns), or `web:CIDR-EXCEPT` addresses."""
    if "ipBlock" in peer:
        return f"web:{peer['ipBlock']['cidr']}-{','.join(peer['ipBlock']['except'])}"
    if "namespaceSelector" in peer:
        assert peer == {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
        return "dns"
    assert peer == {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "snapthunder",
                                                    "app.kubernetes.io/component": "shard"}}}
    return "shard"


def allowed_destinations(deployment: Deployment, pod_labels: dict[str, str]) -> set[tuple[str, str, int]]:
    """(destination, protocol, port) a pod may connect to, by the union of the Egress policies selecting it.

    Also checks that at least one Egress policy selects the pod, so whatever no rule allows is denied.
    """
    allowed: set[tuple[str, str, int]] = set()
    selected = False
    for policy in deployment.kind("NetworkPolicy"):
        if "Egress" not in policy["spec"]["policyTypes"]:
            continue
        if not selects(policy["spec"]["podSelector"]["matchLabels"], pod_labels):
            continue
        selected = True
        for rule in policy["spec"].get("egress", []):
            allowed.update((destination(peer), port["protocol"], port["port"])
                           for peer in rule["to"] for port in rule["ports"])
    assert selected, f"no Egress policy selects {pod_labels}: its outgoing traffic is not restricted"
    return allowed


def test_network_policies_let_the_shards_reach_nothing_the_ui_the_shards_and_dns_and_the_loader_also_the_web(
        scenario) -> None:
    config, deployment = scenario
    cluster = {("shard", "TCP", 5432), ("dns", "UDP", 53), ("dns", "TCP", 53)}
    web = {(f"web:{cidr}", "TCP", port) for cidr in ("0.0.0.0/0-169.254.0.0/16", "::/0-fe80::/10,fd00:ec2::254/128")
           for port in (80, 443)}
    expected = {"shard": set(), "ui": cluster, "loader": cluster | web}
    for workload, template in pod_templates(deployment):
        labels = template["metadata"]["labels"]
        component = labels["app.kubernetes.io/component"]
        assert allowed_destinations(deployment, labels) == expected[component], workload["metadata"]["name"]
    if not config.get("loadUrl"):
        assert "snapthunder-loader-egress" not in by_name(deployment, "NetworkPolicy")


def test_the_loader_may_reach_a_load_url_on_its_own_port() -> None:
    deployment = run_program({"loadUrl": "https://data.example.org:8443/gtex/junctions.bgz"})
    [job] = deployment.kind("Job")
    ports = {port for _, protocol, port in allowed_destinations(deployment, job["spec"]["template"]["metadata"]["labels"])
             if protocol == "TCP"}
    assert ports == {5432, 53, 80, 443, 8443}


def test_node_drains_stop_one_shard_and_one_ui_pod_at_a_time_and_never_block(scenario) -> None:
    config, deployment = scenario
    budgets = deployment.kind("PodDisruptionBudget")
    for budget in budgets:
        assert budget["spec"]["maxUnavailable"] == 1 and "minAvailable" not in budget["spec"]
        assert budget["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    for workload, template in pod_templates(deployment):
        labels = template["metadata"]["labels"]
        covering = [budget for budget in budgets if selects(budget["spec"]["selector"]["matchLabels"], labels)]
        single_ui = workload["kind"] == "Deployment" and workload["spec"]["replicas"] == 1
        # A Job is not disrupted for long (it is retried and reloads); a lone UI pod has nothing to keep serving.
        assert len(covering) == (0 if workload["kind"] == "Job" or single_ui else 1), workload["metadata"]["name"]
    shard_budget = [budget for budget in budgets if budget["spec"]["selector"]["matchLabels"].get(
        "app.kubernetes.io/component") == "shard"]
    assert len(shard_budget) == 1, "one budget over all shards, so a drain takes one shard down at a time"


def test_ui_replicas_prefer_different_nodes(scenario) -> None:
    _, deployment = scenario
    [ui] = deployment.kind("Deployment")
    pod = ui["spec"]["template"]
    assert pod["spec"]["topologySpreadConstraints"] == [{
        "maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": pod["metadata"]["labels"]}, "matchLabelKeys": ["pod-template-hash"],
    }]


def test_every_container_runs_the_image_meant_for_it(scenario) -> None:
    config, deployment = scenario
    built = {resource.name: resource for resource in deployment.of_type(IMAGE_TYPE)}
    if config.get("buildImages") == "false":
        assert not built
        expected = {"StatefulSet": config["shardImage"], "Deployment": config["uiImage"], "Job": config["uiImage"]}
    else:
        assert set(built) == {"postgres-shard", "ui"}
        registry = config.get("imageRegistry")
        references = {}
        for name, image in built.items():
            image_name = image.inputs["imageName"]
            assert image.inputs["skipPush"] == (not registry)
            assert image.inputs["build"]["dockerfile"].endswith(f"images/{name}/Dockerfile")
            references[name] = f"{image_name.rsplit(':', 1)[0]}@sha256:" if registry else image_name
        expected = {"StatefulSet": references["postgres-shard"],
                    "Deployment": references["ui"], "Job": references["ui"]}
    local_only = config.get("buildImages") != "false" and not config.get("imageRegistry")
    for kind, container in containers(deployment):
        assert container["image"].startswith(expected[kind]), (kind, container["image"])
        assert container["imagePullPolicy"] == ("IfNotPresent" if local_only else "Always")


def test_no_password_appears_outside_a_secret_nor_in_any_environment(scenario) -> None:
    _, deployment = scenario
    for kind, container in containers(deployment):
        for variable in container.get("env", []):
            # Plain values only, no secretKeyRef: a password variable holds the path of a mounted file.
            assert set(variable) == {"name", "value"}, variable
    assert deployment.passwords
    for manifest in deployment.manifests:
        if manifest["kind"] != "Secret":
            text = json.dumps(manifest)
            assert not any(password in text for password in deployment.passwords), manifest["metadata"]["name"]


def test_every_shard_reads_its_passwords_from_files_and_trusts_no_connection(scenario) -> None:
    _, deployment = scenario
    for statefulset in deployment.kind("StatefulSet"):
        pod = statefulset["spec"]["template"]["spec"]
        [container] = pod["containers"]
        environment = {variable["name"]: variable["value"] for variable in container["env"]}
        assert len(environment) == len(container["env"])
        assert environment == {"PGDATA": "/var/lib/postgresql/data/pgdata", **shard_image.entrypoint_environment()}
        # The entrypoint reads the superuser's password from its file, never a value; no connection is trusted.
        assert not {"POSTGRES_PASSWORD", "PGPASSWORD"} & set(environment)
        # byte-order text (the API merges per-chromosome streams in byte order), as the local servers have
        assert environment["POSTGRES_INITDB_ARGS"] == ("--auth-local=peer --auth-host=scram-sha-256 "
                                                       "--encoding=UTF8 --locale=C")
        assert environment["POSTGRES_HOST_AUTH_METHOD"] == "scram-sha-256"
        credentials = f"{statefulset['metadata']['name']}-credentials"
        assert mounted_secret_files(pod, container) == {
            environment["POSTGRES_PASSWORD_FILE"]: (credentials, "superuser-password"),
            environment["SNAPTHUNDER_LOADER_PASSWORD_FILE"]: (credentials, "loader-password"),
            environment["SNAPTHUNDER_READER_PASSWORD_FILE"]: ("snapthunder-reader", "password"),
        }


def test_every_long_running_pod_has_probes_and_every_container_resources(scenario) -> None:
    _, deployment = scenario
    for workload, template in pod_templates(deployment):
        pod_containers = template["spec"]["containers"]
        if workload["kind"] != "Job":
            # Readiness is the pod's (the UI's is checked through its front); each process has its own liveness.
            assert any("readinessProbe" in container for container in pod_containers), workload["metadata"]["name"]
            assert all(container["livenessProbe"] for container in pod_containers), workload["metadata"]["name"]
        for container in pod_containers:
            for bound in ("requests", "limits"):
                assert set(container["resources"][bound]) == {"cpu", "memory", "ephemeral-storage"}, container["name"]


@pytest.mark.parametrize(("config", "shard", "ui", "front"), [
    ({}, ("256Mi", "1Gi"), ("256Mi", "2Gi"), ("64Mi", "256Mi")),
    ({"shardEphemeralStorageRequest": "1Gi", "shardEphemeralStorageLimit": "4Gi",
      "uiEphemeralStorageRequest": "512Mi", "uiEphemeralStorageLimit": "3Gi",
      "uiFrontEphemeralStorageRequest": "128Mi", "uiFrontEphemeralStorageLimit": "512Mi",
      "loadUrl": "https://example.org/j.bgz"},
     ("1Gi", "4Gi"), ("512Mi", "3Gi"), ("128Mi", "512Mi")),
])
def test_ephemeral_storage_follows_the_config(config: dict[str, str], shard: tuple[str, str],
                                              ui: tuple[str, str], front: tuple[str, str]) -> None:
    deployment = run_program(config)
    for kind, container in containers(deployment):
        request, limit = shard if kind == "StatefulSet" else front if container["name"] == "front" else ui
        resources = container["resources"]
        assert (resources["requests"]["ephemeral-storage"], resources["limits"]["ephemeral-storage"]) == (
            request, limit), (kind, container["name"])


def test_every_pod_runs_restricted(scenario) -> None:
    _, deployment = scenario
    for workload, template in pod_templates(deployment):
        pod = template["spec"]
        expected_user = 999 if workload["kind"] == "StatefulSet" else 10001
        assert pod["securityContext"] == {
            "runAsNonRoot": True, "runAsUser": expected_user, "runAsGroup": expected_user, "fsGroup": expected_user,
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]},
            }


def test_every_manifest_validates_against_the_kubernetes_schema(scenario) -> None:
    _, deployment = scenario
    for manifest in deployment.manifests:
        for version in CHECKED_KUBERNETES_VERSIONS:
            kubernetes_validate.validate(manifest, version, strict=True)


def test_object_names_are_unique(scenario) -> None:
    _, deployment = scenario
    logical = [(resource.type, resource.name) for resource in deployment.resources]
    assert len(logical) == len(set(logical))
    physical = [(item["kind"], item["metadata"].get("namespace"), item["metadata"]["name"])
                for item in deployment.manifests]
    assert len(physical) == len(set(physical))


def test_the_outputs_are_the_endpoints_document(scenario) -> None:
    config, deployment = scenario
    document = deployment.outputs
    endpoints = Endpoints.from_document(document, "stack outputs")
    assert set(document) == {
        "compilations", "catch_all_shard", "chromosome_shards", "reader", "shards", "api_url", "kubernetes"}
    configured = json.loads(config.get("compilations", '["gtex"]'))
    assert list(document["compilations"]) == [spelled.split(":")[0] for spelled in configured]
    assert list(endpoints.compilations) == list(document["compilations"])
    assert deployment.secret_outputs == {"reader", "shards"}
    placed = [chromosome for shard in endpoints.shards.values() for chromosome in shard.chromosomes]
    assert sorted(placed) == sorted(CHROMOSOMES) and len(placed) == len(set(placed)) == 25
    assert document["chromosome_shards"] == {c: s for s, shard in endpoints.shards.items() for c in shard.chromosomes}
    assert endpoints.plan() == plan_shards(config.get("shards", "2"))
    namespace = config.get("namespace", "snapthunder")
    services = by_name(deployment, "Service")
    cluster = document["kubernetes"]
    assert cluster["namespace"] == namespace
    for name, shard in endpoints.shards.items():
        service = cluster["shards"][name]["service"]
        assert shard.host == f"{service}.{namespace}.svc.cluster.local" and service in services
        assert (shard.port, shard.database, shard.user) == (5432, shard_image.DATABASE, shard_image.LOADER_ROLE)
    assert endpoints.reader.user == shard_image.READER_ROLE
    ui_service = services[cluster["ui"]["service"]]
    assert cluster["ui"]["port"] == ui_service["spec"]["ports"][0]["port"]
    assert document["api_url"] == f"http://{ui_service['metadata']['name']}.{namespace}.svc.cluster.local:80"


def test_the_api_gets_the_document_as_the_reader_and_the_load_job_as_the_loader(scenario) -> None:
    config, deployment = scenario
    secrets = by_name(deployment, "Secret")
    document = deployment.outputs
    as_reader = json.loads(secrets["snapthunder-ui-endpoints"]["stringData"]["endpoints.json"])
    assert as_reader == Endpoints.from_document(document, "outputs").for_reader().to_document()
    loader_passwords = {shard["password"] for shard in document["shards"].values()}
    assert not loader_passwords & {shard["password"] for shard in as_reader["shards"].values()}
    [ui] = deployment.kind("Deployment")
    front, api = ui["spec"]["template"]["spec"]["containers"]
    assert {"name": "SNAPTHUNDER_ENDPOINTS", "value": "/etc/snapthunder/endpoints.json"} in api["env"]
    assert mounted_secret_files(ui["spec"]["template"]["spec"], api) == {
        "/etc/snapthunder/endpoints.json": ("snapthunder-ui-endpoints", "endpoints.json")}
    # The front only forwards requests: it gets neither the document nor its path.
    assert "env" not in front and not mounted_secret_files(ui["spec"]["template"]["spec"], front)
    jobs = deployment.kind("Job")
    if not config.get("loadUrl"):
        assert not jobs
        return
    [job] = jobs
    [loader] = job["spec"]["template"]["spec"]["containers"]
    first = json.loads(config.get("compilations", '["gtex"]'))[0].split(":")[0]
    assert loader["command"] == ["python", "-m", "loaders", config["loadUrl"], "--compilation", first,
                                 "--outputs", "/etc/snapthunder/endpoints.json"]
    assert mounted_secret_files(job["spec"]["template"]["spec"], loader) == {
        "/etc/snapthunder/endpoints.json": ("snapthunder-load-endpoints", "endpoints.json")}
    assert json.loads(secrets["snapthunder-load-endpoints"]["stringData"]["endpoints.json"]) == document


def ui_containers(deployment: Deployment) -> dict[str, dict[str, Any]]:
    [ui] = deployment.kind("Deployment")
    return {container["name"]: container for container in ui["spec"]["template"]["spec"]["containers"]}


def test_the_ui_pod_runs_the_front_before_gunicorn_as_the_api_settings_place_them(scenario) -> None:
    _, deployment = scenario
    pod = ui_containers(deployment)
    assert list(pod) == ["front", "api"]
    front, api = pod["front"], pod["api"]
    bind_port = int(API_SETTINGS["bind"].default.rsplit(":", 1)[1])
    app_bind = API_SETTINGS["app_bind"].default
    assert front["command"] == ["python", "-m", "snapthunder_api.front_end", "/tmp/front/nginx.conf"]
    assert front["ports"] == [{"name": "http", "containerPort": bind_port}]
    # Ready when a request passes through the front and the app; alive while nginx accepts connections,
    # so a dead gunicorn restarts the api container only.
    assert front["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert front["livenessProbe"]["tcpSocket"] == {"port": "http"}
    # gunicorn is the image's CMD, on loopback: no port, and a liveness probe from inside the container
    # (the kubelet cannot reach the pod's loopback).
    assert "command" not in api and "args" not in api and "ports" not in api
    assert "readinessProbe" not in api
    [*interpreter, script] = api["livenessProbe"]["exec"]["command"]
    assert interpreter == ["python", "-c"]
    assert f"urlopen('http://{app_bind}/healthz', timeout=" in script
    assert api["livenessProbe"]["timeoutSeconds"] > float(script.split("timeout=")[1].split(")")[0])
    # Each writes only its own /tmp (the front its configuration): emptyDirs, one per container.
    [ui] = deployment.kind("Deployment")
    scratch = {volume["name"] for volume in ui["spec"]["template"]["spec"]["volumes"] if "emptyDir" in volume}
    tmp = [[mount["name"] for mount in container["volumeMounts"] if mount["mountPath"] == "/tmp"]
           for container in (front, api)]
    assert all(len(names) == 1 and names[0] in scratch for names in tmp) and tmp[0] != tmp[1], tmp


@pytest.mark.parametrize("config", [{}, {"uiCpuLimit": "3", "uiFrontCpuLimit": "1", "uiFrontMemoryLimit": "512Mi"}])
def test_the_ui_containers_get_their_own_resources(config: dict[str, str]) -> None:
    pod = ui_containers(run_program(config))
    front = {"requests": {"cpu": "50m", "memory": "32Mi", "ephemeral-storage": "64Mi"},
             "limits": {"cpu": config.get("uiFrontCpuLimit", "500m"),
                        "memory": config.get("uiFrontMemoryLimit", "256Mi"), "ephemeral-storage": "256Mi"}}
    api = {"requests": {"cpu": "100m", "memory": "512Mi", "ephemeral-storage": "256Mi"},
           "limits": {"cpu": config.get("uiCpuLimit", "1"), "memory": "1Gi", "ephemeral-storage": "2Gi"}}
    assert (pod["front"]["resources"], pod["api"]["resources"]) == (front, api)


def test_the_ui_service_targets_the_fronts_port(scenario) -> None:
    _, deployment = scenario
    [port] = by_name(deployment, "Service")["snapthunder-ui"]["spec"]["ports"]
    named = {(name, container_port["name"]) for name, container in ui_containers(deployment).items()
             for container_port in container.get("ports", [])}
    assert named == {("front", port["targetPort"])}


def test_the_ui_service_type_and_source_ranges(scenario) -> None:
    config, deployment = scenario
    spec = by_name(deployment, "Service")["snapthunder-ui"]["spec"]
    assert spec["type"] == config.get("uiServiceType", "ClusterIP")
    expected_ranges = json.loads(config["uiSourceRanges"]) if "uiSourceRanges" in config else None
    assert spec.get("loadBalancerSourceRanges") == expected_ranges
    [ui] = deployment.kind("Deployment")
    assert ui["spec"]["replicas"] == int(config.get("uiReplicas", "1"))


def test_volumes_are_kept_unless_told_otherwise(scenario) -> None:
    config, deployment = scenario
    policy = "Delete" if config.get("deleteVolumesOnDestroy") == "true" else "Retain"
    for statefulset in deployment.kind("StatefulSet"):
        retention = statefulset["spec"]["persistentVolumeClaimRetentionPolicy"]
        assert retention == {"whenDeleted": policy, "whenScaled": policy}
        [claim] = statefulset["spec"]["volumeClaimTemplates"]
        assert claim["spec"]["resources"]["requests"]["storage"] == config.get("storageSize", "10Gi")
        assert claim["spec"].get("storageClassName") == config.get("storageClass")


def test_the_namespace_enforces_the_restricted_pod_security_standard(scenario) -> None:
    config, deployment = scenario
    [namespace] = deployment.kind("Namespace")
    assert namespace["metadata"]["name"] == config.get("namespace", "snapthunder")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert {item["metadata"]["namespace"] for item in deployment.manifests if item["kind"] != "Namespace"} == {
        namespace["metadata"]["name"]}


def test_an_existing_namespace_is_used_as_it_is() -> None:
    deployment = run_program({"createNamespace": "false", "namespace": "team-genomics"})
    assert not deployment.kind("Namespace")
    assert {item["metadata"]["namespace"] for item in deployment.manifests} == {"team-genomics"}


@pytest.mark.parametrize(("limit", "expected"), [
    ("2Gi", ["shared_buffers=512MB", "effective_cache_size=1536MB", "maintenance_work_mem=256MB", "work_mem=6MB"]),
    ("4Gi", ["shared_buffers=1024MB", "effective_cache_size=3072MB", "maintenance_work_mem=512MB", "work_mem=12MB"]),
    ("64Gi", ["shared_buffers=16384MB", "effective_cache_size=49152MB", "maintenance_work_mem=2048MB",
              "work_mem=235MB"]),
])
def test_server_memory_follows_the_memory_limit(limit: str, expected: list[str]) -> None:
    deployment = run_program({"shardMemoryRequest": limit, "shardMemoryLimit": limit})
    for statefulset in deployment.kind("StatefulSet"):
        [container] = statefulset["spec"]["template"]["spec"]["containers"]
        assert container["args"] == ["postgres", *(part for setting in expected for part in ("-c", setting))]
        assert container["resources"]["limits"]["memory"] == limit


def test_several_compilations_share_the_shards_and_each_keeps_its_label_and_genome() -> None:
    deployment = run_program(SCENARIOS["several compilations"])
    assert deployment.outputs["compilations"] == {"gtex": {"data_source": "GTEx", "genome": "hg38"},
                                                  "tcga": {"data_source": "TCGA", "genome": "hg38"},
                                                  "srav1m": {"data_source": "srav1m", "genome": "mm10"}}
    assert len(deployment.kind("StatefulSet")) == len(run_program({}).kind("StatefulSet"))   # one shard set for all
    placed = Endpoints.from_document(deployment.outputs, "stack outputs").plan().chromosome_shards
    assert all(set(chromosomes) <= set(placed) for chromosomes in GENOME_CHROMOSOMES.values())   # mouse names too
    (job,) = deployment.kind("Job")
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[command.index("--compilation") + 1] == "gtex"   # loadUrl loads the first compilation
