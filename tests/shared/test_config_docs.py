"""docs/configuration.md is generated from the same tables that parse the environment."""

from __future__ import annotations

from shared import config_docs


def test_configuration_doc_is_current() -> None:
    assert config_docs.main(["--check"]) == 0, "run `python -m shared.config_docs`"


def test_every_service_variable_is_documented() -> None:
    text = config_docs.render()
    from shared.service import discover

    for service in discover():
        assert f"`python -m {service.name}`" in text
        for var in service.variables:
            assert f"| `{var.name}` |" in text
