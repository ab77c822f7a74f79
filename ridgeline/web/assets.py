"""Static files of a page package (CSS, JavaScript modules, icons), served by a route from a
fixed list: nothing outside the list is ever read. Each URL carries a hash of the file, so the
file is cached for a year and a new release is fetched at once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

from fastapi import Request, Response

from ridgeline.status.caching import etag_of

IMMUTABLE = "public, max-age=31536000, immutable"
MEDIA_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True, slots=True)
class Asset:
    content: bytes
    media_type: str
    etag: str

    @property
    def version(self) -> str:
        return self.etag.strip('"')[:12]


class AssetShelf:
    """Every file of `package`'s `folder` (what the release ships, read once), under the URL
    prefix `prefix`; no other path is ever read."""

    def __init__(self, package: str, folder: str, prefix: str) -> None:
        self.package = package
        self.folder = folder
        self.prefix = prefix.rstrip("/")
        self._load = cache(self._read)

    @property
    def names(self) -> frozenset[str]:
        return self._names()

    @cache  # noqa: B019  (one shelf per package, alive as long as the process)
    def _names(self) -> frozenset[str]:
        folder = resources.files(self.package).joinpath(self.folder)
        return frozenset(
            entry.name
            for entry in folder.iterdir()
            if entry.is_file() and entry.name[entry.name.rfind(".") :] in MEDIA_TYPES
        )

    def _read(self, name: str) -> Asset:
        suffix = name[name.rfind(".") :]
        content = resources.files(self.package).joinpath(self.folder, name).read_bytes()
        return Asset(content, MEDIA_TYPES[suffix], etag_of(content))

    def get(self, name: str) -> Asset | None:
        return self._load(name) if name in self.names else None

    def url(self, name: str) -> str:
        found = self.get(name)
        assert found is not None, f"{name} is not on the shelf"
        return f"{self.prefix}/{name}?v={found.version}"

    def urls(self) -> Mapping[str, str]:
        return {name: self.url(name) for name in sorted(self.names)}


def serve(request: Request, asset: Asset) -> Response:
    """The file; cached for a year when asked for by its versioned URL, else revalidated on
    every use (a module's relative imports carry no version)."""
    versioned = request.query_params.get("v") == asset.version
    headers = {"ETag": asset.etag, "Cache-Control": IMMUTABLE if versioned else "no-cache"}
    if request.headers.get("if-none-match", "").strip() == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.content, media_type=asset.media_type, headers=headers)
