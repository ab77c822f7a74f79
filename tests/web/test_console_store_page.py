"""The console's store view as served: its modules are on the asset shelf, and the credentials
form offers exactly the fields of each POS adapter's config model, the secret ones as secrets."""

from __future__ import annotations

import html
import json
import re
from importlib import resources

import httpx
import pytest
from pydantic import SecretStr

from ridgeline.pos.base import PosConfig
from ridgeline.pos.registry import adapter_class, adapter_names

STATIC = resources.files("ridgeline.web") / "static"
COMMON = set(PosConfig.model_fields) - {"base_url"}


def provider_fields(provider: str) -> dict[str, bool]:
    """{field name: secret} of the provider's block in console-store-pos.js."""
    source = (STATIC / "console-store-pos.js").read_text()
    block = re.search(rf"\n  {provider}: \{{\n(.*?)\n  \}},\n", source, re.S)
    assert block is not None, provider
    entries = re.findall(r"\{\s*name: \"(\w+)\"(.*?)\}", block.group(1), re.S)
    return {name: "secret: true" in rest for name, rest in entries}


def is_secret(annotation: object) -> bool:
    return annotation is SecretStr or SecretStr in getattr(annotation, "__args__", ())


@pytest.mark.parametrize("provider", sorted(adapter_names()))
def test_the_credentials_form_offers_each_providers_fields(provider: str) -> None:
    adapter = adapter_class(provider)
    assert adapter is not None
    model = adapter.config_model.model_fields
    offered = provider_fields(provider)
    assert set(offered) == set(model) - COMMON
    for name, secret in offered.items():
        assert secret == is_secret(model[name].annotation), name


async def test_the_store_view_modules_are_served(client: httpx.AsyncClient) -> None:
    page = (await client.get("/dashboard")).text
    match = re.search(r'data-modules="([^"]*)"', page)
    assert match is not None
    modules = json.loads(html.unescape(match.group(1)))
    assert re.fullmatch(r"/assets/console-store\.js\?v=\w+", modules["store"])
    view = await client.get(modules["store"])
    assert view.status_code == 200
    assert view.headers["content-type"].startswith("text/javascript")
    # Its relative import, unversioned, is on the shelf too.
    assert './console-store-pos.js"' in view.text
    assert (await client.get("/assets/console-store-pos.js")).status_code == 200
    # No inline style: the CSP allows none.
    for name in ("console-store.js", "console-store-pos.js"):
        source = (STATIC / name).read_text()
        assert ".style." not in source, name
        assert '"style"' not in source, name
