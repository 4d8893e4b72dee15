"""Snaptron's wire protocol: the bytes that clients depend on, in one place.

snapcount (R) requires `Content-Type` to be exactly `text/plain` on every
data answer and drops exactly the 7 bytes `200 OK\\n` before parsing the
registry's JSON; the Python client compares `check_for_update`'s float text;
UCSC reads the BED track lines. Each of those forms is made here and only
here, so the API's modules and the tests share one definition.
"""

from __future__ import annotations

import json
import math
from typing import Iterable, Mapping
from urllib.parse import quote

TSV_CONTENT_TYPE = "text/plain"
JSON_CONTENT_TYPE = "application/json"
REGISTRY_PREFIX = b"200 OK\n"
# The type Snaptron's legacy JSON POST announces for each column (its `datatypes:` line).
DATATYPES = {"snaptron_id": "int", "chromosome": "str", "start": "int", "end": "int", "length": "int",
             "strand": "str", "annotated": "bool", "left_motif": "str", "right_motif": "str",
             "left_annotated": "str", "right_annotated": "str", "samples": "str", "samples_count": "int",
             "coverage_sum": "int", "coverage_avg": "float", "coverage_median": "float",
             "source_dataset_id": "str"}
DEFAULT_GENOME = "hg38"
UCSC_BROWSER = "http://genome.ucsc.edu/cgi-bin/hgTracks"
BED_TRACK = ('track name="Snaptron" visibility=2 description="Snaptron Exported Splice Junctions" '
             'color=100,50,0 useScore=1')


def data_source(label: str, row_type: str) -> str:
    """`GTEx:I`: the first column of a row of the compilation labelled `label` (I junction, S sample, U link)."""
    return f"{label}:{row_type}"


def registry_body(compilations: Mapping[str, Iterable[tuple[str, str]]]) -> bytes:
    """`200 OK\\n` + one line of JSON + `\\n`: compilation → {sample field → t/i/f, …, "all": "t"}."""
    document = {name: {**dict(fields), "all": "t"} for name, fields in compilations.items()}
    return REGISTRY_PREFIX + json.dumps(document, separators=(",", ":")).encode() + b"\n"


def python_float_text(value: float) -> str:
    """Python 2's str() of a float (12 significant digits, `.0` on whole numbers): how Snaptron prints floats."""
    if not math.isfinite(value):
        return repr(value)
    text = f"{value:.12g}"
    return text if "." in text or "e" in text else text + ".0"


def datatypes_line(fields: Iterable[str]) -> str:
    """The legacy JSON POST's second header line: `datatypes:str<TAB>int…`."""
    return "datatypes:" + "\t".join(["str", *(DATATYPES[field] for field in fields)])


def bed_preamble(region: str | None) -> str:
    """The lines before each region's BED rows: UCSC's `browser position` (when known) and the track line."""
    return (f"browser position {region}\n" if region else "") + BED_TRACK + "\n"


def browser_link(base_url: str, compilation: str, region: str, query: Iterable[tuple[str, str]],
                 endpoint: str, genome: str = DEFAULT_GENOME) -> str:
    """UCSC's browser at `region`, loading this server's BED answer for it as a custom track.

    `query` is the request's own parameters with return_format=1 and the
    region in place: percent-encoded with only `/` safe, behind
    `<base>/<compilation>//<endpoint>?` (`snaptron`, `genes`, `exons`) as Snaptron writes it.
    """
    track = "&".join(f"{name}={value}" for name, value in query)
    return (f"{UCSC_BROWSER}?db={genome}&position={region}"
            f"&hgct_customText={base_url.rstrip('/')}/{compilation}//{endpoint}?{quote(track, safe='/')}")
