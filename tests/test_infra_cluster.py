"""`pulumi up` against a real cluster, then `pulumi destroy` (marker `cluster`).

Skipped unless the Pulumi CLI is on PATH and a kubeconfig exists: neither can
be had on the machines the suite normally runs on. Run it with

    PULUMI_CONFIG_PASSPHRASE=... pulumi login --local
    .venv/bin/python -m pytest -m cluster tests/test_infra_cluster.py

A small two-shard stack goes into a namespace of its own and is destroyed,
volumes included, whatever the tests did. Extra stack config (a registry the
cluster can pull from, a storage class) comes as JSON in
SNAPTHUNDER_CLUSTER_CONFIG, e.g. '{"imageRegistry": "localhost:5000"}'.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
import uuid
from pathlib import Path
from typing import Iterator

import psycopg2
import pytest
from pulumi import automation

from snapthunder.endpoints import Endpoints
from snapthunder.port_forward import forwarded
from tests.infra_harness import PROJECT, REPOSITORY_ROOT


def kubeconfig_exists() -> bool:
    paths = os.environ.get("KUBECONFIG", str(Path.home() / ".kube" / "config")).split(os.pathsep)
    return any(Path(path).is_file() for path in paths if path)


pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(not (shutil.which("pulumi") and kubeconfig_exists()),
                       reason="needs the Pulumi CLI on PATH and a kubeconfig for a test cluster"),
]

SMALL_STACK = {
    "shards": "2",
    "storageSize": "1Gi",
    "deleteVolumesOnDestroy": "true",
    "shardCpuRequest": "100m", "shardCpuLimit": "1",
    "shardMemoryRequest": "512Mi", "shardMemoryLimit": "512Mi",
    "uiCpuRequest": "100m", "uiMemoryRequest": "256Mi", "uiMemoryLimit": "512Mi",
}


@pytest.fixture(scope="module")
def deployed() -> Iterator[Endpoints]:
    name = f"cluster-test-{uuid.uuid4().hex[:8]}"
    stack = automation.create_or_select_stack(stack_name=name, work_dir=str(REPOSITORY_ROOT))
    config = {**SMALL_STACK, "namespace": f"snapthunder-{name}",
              **json.loads(os.environ.get("SNAPTHUNDER_CLUSTER_CONFIG", "{}"))}
    stack.set_all_config({f"{PROJECT}:{key}": automation.ConfigValue(value) for key, value in config.items()})
    try:
        result = stack.up(on_output=print)
        outputs = {key: output.value for key, output in result.outputs.items()}
        yield Endpoints.from_document(outputs, f"stack {name}")
    finally:
        stack.destroy(on_output=print)
        stack.workspace.remove_stack(name)


def test_every_shard_answers_as_the_loader_and_the_reader(deployed: Endpoints) -> None:
    with forwarded(deployed) as local:
        for shard in local.shards.values():
            for credentials in (None, local.reader):
                connection = psycopg2.connect(**shard.connect_arguments(credentials))
                try:
                    with connection.cursor() as cursor:
                        cursor.execute("SELECT value FROM shard_metadata WHERE key = 'schema_version'")
                        assert cursor.fetchone() is not None, shard.describe()
                finally:
                    connection.close()


def test_the_api_is_healthy_and_ready(deployed: Endpoints) -> None:
    with forwarded(deployed) as local:
        for path in ("/healthz", "/readyz"):
            with urllib.request.urlopen(f"{local.api_url}{path}", timeout=10) as response:
                assert response.status == 200, path
