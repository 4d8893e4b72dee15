"""Stack config: declared once in Pulumi.yaml, read once, and refused clearly when wrong.

A bad value must stop the program before it declares anything, with a message
naming the key and what it may be. Pulumi.yaml, the example stacks, the
program and docs/DEPLOY.md must agree on the keys and their defaults.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.infra_harness import REPOSITORY_ROOT, program_module, run_program

DECLARED = yaml.safe_load((REPOSITORY_ROOT / "Pulumi.yaml").read_text())["config"]
PULUMI_TYPES = {"string": str, "integer": int, "boolean": bool, "array": list}

BAD_VALUES = [
    ({"shards": "0"}, r"snapthunder:shards: .*an integer from 1 to 25, or 'per-chromosome'; got 0"),
    ({"shards": "per-chr"}, r"snapthunder:shards: .*an integer from 1 to 25, or 'per-chromosome'; got 'per-chr'"),
    ({"uiServiceType": "Ingress"},
     r"snapthunder:uiServiceType must be one of ClusterIP, NodePort, LoadBalancer; got 'Ingress'"),
    ({"uiServiceType": "LoadBalancer"},
     r"snapthunder:uiSourceRanges must list the CIDR ranges .* when snapthunder:uiServiceType is LoadBalancer"),
    ({"uiServiceType": "LoadBalancer", "uiSourceRanges": '["10.0.0.300/8"]'},
     r"snapthunder:uiSourceRanges must be a list of CIDR ranges such as 203.0.113.0/24 \('10.0.0.300/8' is not one\)"),
    ({"uiServiceType": "LoadBalancer", "uiSourceRanges": "10.0.0.0/8"},
     r"snapthunder:uiSourceRanges must be a list of strings"),
    ({"uiSourceRanges": '["10.0.0.0/8"]'},
     r"snapthunder:uiSourceRanges applies only when snapthunder:uiServiceType is LoadBalancer; it is ClusterIP"),
    ({"uiReplicas": "0"}, r"snapthunder:uiReplicas must be an integer from 1 to 100; got 0"),
    ({"uiReplicas": "many"}, r"snapthunder:uiReplicas must be an integer; got 'many'"),
    ({"buildImages": "yes"}, r"snapthunder:buildImages must be true or false; got 'yes'"),
    ({"buildImages": "false", "uiImage": "ui:1"},
     r"snapthunder:shardImage must be an image reference .* when snapthunder:buildImages is false"),
    ({"storageSize": "ten gigs"},
     r"snapthunder:storageSize must be a Kubernetes quantity such as 512Mi, 2Gi or 1G; got 'ten gigs'"),
    ({"shardMemoryLimit": "128Mi", "shardMemoryRequest": "128Mi"},
     r"snapthunder:shardMemoryLimit must be at least 256Mi; got 128Mi"),
    ({"shardMemoryRequest": "4Gi"}, r"snapthunder:shardMemoryRequest must not exceed snapthunder:shardMemoryLimit"),
    ({"uiCpuLimit": "lots"},
     r"snapthunder:uiCpuLimit must be a Kubernetes CPU quantity such as 250m, 1 or 1.5; got 'lots'"),
    ({"uiCpuRequest": "2"}, r"snapthunder:uiCpuRequest must not exceed snapthunder:uiCpuLimit"),
    ({"shardEphemeralStorageLimit": "lots"},
     r"snapthunder:shardEphemeralStorageLimit must be a Kubernetes quantity such as 512Mi, 2Gi or 1G; got 'lots'"),
    ({"uiEphemeralStorageRequest": "4Gi"},
     r"snapthunder:uiEphemeralStorageRequest must not exceed snapthunder:uiEphemeralStorageLimit"),
    ({"namespace": "Snap_Thunder"},
     r"snapthunder:namespace must be a Kubernetes namespace name .*; got 'Snap_Thunder'"),
    ({"compilations": '["GTEx"]'},
     r"snapthunder:compilations must be a list of compilations \(a compilation name is lower-case .* such as gtex, "
     r"tcga or srav2; got 'GTEx'\); got \['GTEx'\]"),
    ({"compilations": '["gtex", "gtex:GTEx"]'}, r"gtex is listed twice"),
    ({"compilations": '["srav1m:srav1m:mm9"]'}, r"the genome is one of hg38, mm10; got 'mm9'"),
    ({"compilations": '[]'}, r"at least one compilation must be served"),
    ({"loadUrl": "ftp://example.org/j.bgz"},
     r"snapthunder:loadUrl must be an http:// or https:// URL of a junctions file, or empty"),
    ({"imagePlatform": "amd64"},
     r"snapthunder:imagePlatform must be an os/architecture such as linux/amd64 or linux/arm64; got 'amd64'"),
    ({"imageTag": "release 1"}, r"snapthunder:imageTag must be a Docker tag"),
    ({"storageClass": "Fast SSD"}, r"snapthunder:storageClass must be a StorageClass name, or empty"),
]


@pytest.mark.parametrize(("config", "message"), BAD_VALUES, ids=[json.dumps(config) for config, _ in BAD_VALUES])
def test_a_bad_value_stops_the_program_naming_the_key_and_the_allowed_values(config: dict[str, str],
                                                                             message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        run_program(config)
    assert type(raised.value).__name__ == "SettingsError"


def test_every_key_is_declared_with_a_type_a_default_and_a_description() -> None:
    for key, declaration in DECLARED.items():
        assert set(declaration) - {"items"} == {"type", "default", "description"}, key
        assert isinstance(declaration["default"], PULUMI_TYPES[declaration["type"]]), key
        assert len(declaration["description"]) > 20, key


def test_the_program_reads_every_declared_key_and_no_other() -> None:
    class RecordingConfig:
        def __init__(self) -> None:
            self.read: list[str] = []

        def get(self, key: str) -> None:
            self.read.append(key)

    config = RecordingConfig()
    program_module("settings").Settings.from_config(config)
    assert sorted(config.read) == sorted(DECLARED)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_example_stacks_set_only_declared_keys(stack: str) -> None:
    values = yaml.safe_load((REPOSITORY_ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    assert {key.removeprefix("snapthunder:") for key in values} <= set(DECLARED)


def test_the_deploy_guide_tabulates_every_key_as_declared() -> None:
    guide = (REPOSITORY_ROOT / "docs" / "DEPLOY.md").read_text()
    table = re.findall(r"^\| `(\w+)` \| (\w+) \| (.*?) \| (.*) \|$", guide, re.MULTILINE)
    rows = {key: (kind, default, description) for key, kind, default, description in table}
    assert set(rows) == set(DECLARED)
    for key, declaration in DECLARED.items():
        description = " ".join(declaration["description"].split())
        expected = (declaration["type"], f"`{json.dumps(declaration['default'])}`", description)
        assert rows[key] == expected, key
