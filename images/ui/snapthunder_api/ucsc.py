"""`return_format=1` and `2`: a junction query as a UCSC Genome Browser custom track.

1 is BED, one block per region in request order: `browser position <region>`,
the track line, then the region's rows as `chrom, start − 1, end, junc,
<score_by>, strand` (BED is 0-based; `header=0` keeps the block lines, as
Snaptron does). 2 is one row per region, `<DS>:U <region> <URL>`: a link
that opens the browser at the region with this server's own BED answer for
it loaded as the track. An `ids=` query has no region: `coordinate_string=`
names the one to show.
"""

from __future__ import annotations

from flask import Response, request

from snapthunder import wire
from snapthunder.query import Query

from snapthunder_api import answers
from snapthunder_api.access_log import RequestLog
from snapthunder_api.shards import Served


def answer(deployment: Served, query: Query, pairs: list[tuple[str, str]], log: RequestLog) -> Response:
    if query.return_format == 1:
        return _bed(deployment, query, log)
    return _links(deployment, query, pairs, log)


def _bed(deployment: Served, query: Query, log: RequestLog) -> Response:
    parts = [answers.Part(part, None, "bed", wire.bed_preamble(_shown_region(part)).encode())
             for part in query.per_region()]
    return answers.in_order(deployment, parts, b"", log)


def _links(deployment: Served, query: Query, pairs: list[tuple[str, str]], log: RequestLog) -> Response:
    compilation = deployment.compilation
    lines = ["DataSource:Type\tcoordinate_string\tURL"] if query.header else []
    for part in query.per_region():
        region = _shown_region(part)
        link = wire.browser_link(request.host_url, compilation.name, region, _track_query(pairs, region, part),
                                 query.feature.name)
        lines.append(f"{wire.data_source(compilation.data_source, 'U')}\t{region}\t{link}")
    return answers.text_answer("".join(line + "\n" for line in lines), log)


def _shown_region(query: Query) -> str | None:
    regions = query.selections[0].regions
    if regions:
        return str(regions[0])
    return str(query.coordinate) if query.coordinate is not None else None


def _track_query(pairs: list[tuple[str, str]], region: str, query: Query) -> list[tuple[str, str]]:
    """The request's own parameters, in order, asking for BED of just this region."""
    track, region_given = [], not query.selections[0].regions
    for name, value in pairs:
        if name == "regions":
            if not region_given:
                track.append(("regions", region))
                region_given = True
        elif name == "return_format":
            track.append(("return_format", "1"))
        else:
            track.append((name, value))
    return track
