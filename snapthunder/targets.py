"""Choosing the deployment a command works on: `--outputs FILE` or `--stack NAME`.

Shared by the loader and the bench, so both take the same flags and say the
same things when the target cannot be reached. `--port-forward` (with
`--stack`) tunnels to the cluster's Services for the duration of the command.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import Iterator

from snapthunder import endpoints as endpoints_module
from snapthunder.endpoints import Endpoints


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--outputs", type=Path, metavar="PATH",
                        help="endpoints document (the local environment's, or saved stack outputs)")
    target.add_argument("--stack", metavar="NAME", help="read the outputs of this Pulumi stack (needs the Pulumi CLI)")
    parser.add_argument("--port-forward", action="store_true",
                        help="with --stack: reach the shards and the API through `kubectl port-forward`")


@contextlib.contextmanager
def open_target(arguments: argparse.Namespace) -> Iterator[Endpoints]:
    """The endpoints to use; with --port-forward, the tunnels stay open until the block ends."""
    if arguments.port_forward and not arguments.stack:
        raise argparse.ArgumentTypeError("--port-forward goes with --stack")
    if arguments.outputs is not None:
        yield endpoints_module.load(arguments.outputs)
        return
    endpoints = endpoints_module.from_stack(arguments.stack)
    if not arguments.port_forward:
        yield endpoints
        return
    from snapthunder.port_forward import forwarded
    with forwarded(endpoints) as local:
        yield local
