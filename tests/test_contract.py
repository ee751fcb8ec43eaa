"""Every declared service keeps the contract (see tests/contract.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shared.service import Service, discover
from tests import contract

SERVICES = discover()


def test_the_stack_declares_its_services() -> None:
    names = [s.name for s in SERVICES]
    assert names[:1] == ["error_tracker"] and "metrics_collector" in names


@pytest.fixture(params=SERVICES, ids=lambda s: s.name)
def service(request: pytest.FixtureRequest) -> Service[Any, Any]:
    return request.param  # type: ignore[no-any-return]


def test_http_contract(service: Service[Any, Any], tmp_path: Path) -> None:
    contract.check_http(service, tmp_path)


def test_rate_limit_contract(service: Service[Any, Any], tmp_path: Path) -> None:
    contract.check_rate_limit(service, tmp_path)


def test_a_dead_writer_is_reported_and_fails_fast(
    service: Service[Any, Any], tmp_path: Path
) -> None:
    contract.check_dead_writer(service, tmp_path)


def test_a_full_disk_is_reported_and_heals(service: Service[Any, Any], tmp_path: Path) -> None:
    contract.check_storage_full(service, tmp_path)


def test_startup_errors_are_one_line(service: Service[Any, Any], tmp_path: Path) -> None:
    contract.check_startup_errors(service, tmp_path)


def test_process_healthcheck_and_sigterm(service: Service[Any, Any], tmp_path: Path) -> None:
    contract.check_process(service, tmp_path)


def test_config_docs(service: Service[Any, Any]) -> None:
    contract.check_config_docs(service)
