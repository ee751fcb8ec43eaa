"""docs/configuration.md is generated from the same tables that parse the environment."""

from __future__ import annotations

from shared import config_docs


def test_configuration_doc_is_current() -> None:
    assert config_docs.main(["--check"]) == 0, "run `python -m shared.config_docs`"


def test_every_service_variable_is_documented() -> None:
    text = config_docs.render()
    from error_tracker.config import VARIABLES

    for var in VARIABLES:
        assert f"| `{var.name}` |" in text
