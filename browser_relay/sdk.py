"""GET /sdk/monlight.js: the browser SDK, so a page needs one script tag.

Read once at start from `clients/browser/` (the SDK's home, shipped
separately too); cacheable for an hour, with an ETag so a revalidation is a
304, and the SDK's version in `X-Monlight-SDK-Version`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from shared.responses import ApiError
from shared.service import ROOT

SDK_DIR = ROOT / "clients" / "browser"
_VERSION = re.compile(rb"""VERSION\s*=\s*["']([0-9A-Za-z.+-]{1,40})["']""")


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    etag: str
    media_type: str
    version: str


def load_asset(path: Path, media_type: str) -> Asset | None:
    try:
        body = path.read_bytes()
    except OSError:
        return None
    match = _VERSION.search(body)
    etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    return Asset(body, etag, media_type, match.group(1).decode() if match else "unknown")


def load_sdk(directory: Path = SDK_DIR) -> dict[str, Asset]:
    assets = {
        "monlight.js": load_asset(directory / "monlight.js", "text/javascript; charset=utf-8"),
        "monlight.js.map": load_asset(directory / "monlight.js.map", "application/json"),
    }
    return {name: asset for name, asset in assets.items() if asset is not None}


def serve(assets: dict[str, Asset], name: str, request: Request) -> Response:
    asset = assets.get(name)
    if asset is None:
        raise ApiError(404, f"/sdk/{name} is not shipped with this relay")
    headers = {
        "Cache-Control": "public, max-age=3600",
        "ETag": asset.etag,
        "X-Monlight-SDK-Version": asset.version,
    }
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)
