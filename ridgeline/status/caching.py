"""Conditional GET for the status page's public answers: every one carries a strong validator
of its bytes (ETag) and answers 304 to a poller that already has them. Pollers are the status
page's main readers (bots, aggregators, the page's own refresh), so most polls cost no body."""

from __future__ import annotations

import hashlib

from fastapi import Request, Response

# Short enough that a poller sees a change within seconds, long enough to absorb a burst.
CACHE_CONTROL = "public, max-age=5"


def etag_of(content: bytes) -> str:
    return '"' + hashlib.sha256(content).hexdigest()[:32] + '"'


def _matches(header: str, etag: str) -> bool:
    """If-None-Match uses the weak comparison: `W/` prefixes are ignored (RFC 9110 13.1.2)."""
    wanted = etag.removeprefix("W/")
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == wanted:
            return True
    return False


def conditional(request: Request, content: bytes, media_type: str) -> Response:
    """`content` with its ETag, or 304 Not Modified when the caller already has it. Public
    and readable from any origin (status widgets embed it in other sites)."""
    etag = etag_of(content)
    headers = {
        "ETag": etag,
        "Cache-Control": CACHE_CONTROL,
        "Access-Control-Allow-Origin": "*",
        "Vary": "Accept-Encoding",
    }
    if _matches(request.headers.get("if-none-match", ""), etag):
        return Response(status_code=304, headers=headers)
    return Response(content=content, media_type=media_type, headers=headers)
