"""The console's channel form offers exactly the settings of each channel kind's config model,
the secret ones as secrets (so the form and the API cannot drift apart)."""

from __future__ import annotations

import re
from importlib import resources

import pytest
from pydantic import SecretStr

from ridgeline.alerts.channels import CONFIG_MODELS
from ridgeline.models.alert_channel import ChannelKind

SOURCE = (resources.files("ridgeline.web") / "static" / "console-alerts-channels.js").read_text()


def kind_fields(kind: str) -> dict[str, bool]:
    """{field name: secret} of the kind's block in console-alerts-channels.js."""
    block = re.search(rf"\n  {kind}: \{{(.*?)\n  \}},\n", SOURCE, re.S) or re.search(
        rf"\n  {kind}: \{{(.*?)\}},\n", SOURCE
    )
    assert block is not None, kind
    entries = re.findall(r"\{ name: \"(\w+)\"(.*?)\}", block.group(1), re.S)
    return {name: "secret: true" in rest for name, rest in entries}


def is_secret(annotation: object) -> bool:
    return annotation is SecretStr or SecretStr in getattr(annotation, "__args__", ())


@pytest.mark.parametrize("kind", [kind.value for kind in ChannelKind])
def test_the_channel_form_offers_each_kinds_settings(kind: str) -> None:
    model = CONFIG_MODELS[ChannelKind(kind)].model_fields
    offered = kind_fields(kind)
    assert set(offered) == set(model)
    for name, secret in offered.items():
        assert secret == is_secret(model[name].annotation), (kind, name)
