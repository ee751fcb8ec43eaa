"""`@capture_errors` and `@timed`: instrument a function, sync or async, in one line."""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from typing import Any, TypeVar, overload

from monlight import _defaults
from monlight.error_client import ErrorClient
from monlight.metrics_client import MetricsClient

F = TypeVar("F", bound=Callable[..., Any])


def _report(client: ErrorClient | None, exc: BaseException, func: Callable[..., Any]) -> None:
    client = client or _defaults.get_error_client()
    if client is not None:
        client.capture_exception(exc, extra={"function": func.__qualname__})


@overload
def capture_errors(func: F) -> F: ...
@overload
def capture_errors(
    func: None = None, *, reraise: bool = True, client: ErrorClient | None = None
) -> Callable[[F], F]: ...


def capture_errors(
    func: F | None = None, *, reraise: bool = True, client: ErrorClient | None = None
) -> F | Callable[[F], F]:
    """Report any exception escaping the function; re-raise it unless `reraise=False`.

    Use bare (`@capture_errors`) or with options (`@capture_errors(reraise=False)`);
    works on sync and async functions. With `reraise=False` the function returns None.
    """

    def decorate(fn: F) -> F:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await fn(*args, **kwargs)
                except Exception as exc:
                    _report(client, exc, fn)
                    if reraise:
                        raise
                    return None

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                _report(client, exc, fn)
                if reraise:
                    raise
                return None

        return wrapper  # type: ignore[return-value]

    if func is not None:
        return decorate(func)
    return decorate


def timed(
    name: str, labels: dict[str, str] | None = None, *, client: MetricsClient | None = None
) -> Callable[[F], F]:
    """Record the function's wall time in seconds as histogram `name` (also when it raises)."""

    def decorate(fn: F) -> F:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                start = time.perf_counter()
                try:
                    return await fn(*args, **kwargs)
                finally:
                    _observe(client, name, time.perf_counter() - start, labels)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                _observe(client, name, time.perf_counter() - start, labels)

        return wrapper  # type: ignore[return-value]

    return decorate


def _observe(
    client: MetricsClient | None, name: str, seconds: float, labels: dict[str, str] | None
) -> None:
    client = client or _defaults.get_metrics_client()
    if client is not None:
        client.histogram(name, seconds, labels=labels)
