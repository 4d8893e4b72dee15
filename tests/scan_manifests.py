"""Write every Kubernetes object the Pulumi program declares as YAML, for a misconfiguration scan.

    .venv/bin/python -m tests.scan_manifests build/scan/manifests

runs infra/ under Pulumi's mocks (tests/infra_harness.py) for no config at
all, Pulumi.dev.yaml and Pulumi.prod.yaml, and writes one file per stack
(`default.yaml`, `dev.yaml`, `prod.yaml`), each a multi-document YAML of the
manifests the provider would send. `make scan` runs checkov on them and on
both Dockerfiles, with tests/checkov.yaml's documented skips.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from tests.infra_harness import run_program, stack_config

STACKS = {"default": {}, "dev": stack_config("dev"), "prod": stack_config("prod")}


def write_manifests(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for stack, config in STACKS.items():
        path = directory / f"{stack}.yaml"
        path.write_text(yaml.safe_dump_all(run_program(config).manifests, sort_keys=False))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path, help="where to write the manifests (created if missing)")
    arguments = parser.parse_args(argv)
    for path in write_manifests(arguments.directory):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
