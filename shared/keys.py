"""Public keys that clients hold (the relay's DSN keys, the tracker's Sentry DSNs):
made, seeded from the environment, and checked in memory in constant time.

A request carrying such a key must not cost a database read: the ring holds
the active keys (a few per project) and is reloaded after every change made
here, and at most RELOAD seconds after a change made elsewhere (another
process, a restored backup).
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Generic, TypeVar

from shared.config import parse_csv

#: Seconds after which a ring re-reads the keys even without a change made here.
RELOAD = 10.0
MAX_PROJECT = 100
#: A public key as clients hold it: what the environment may seed and a client may send.
KEY = re.compile(r"[^\s,:]{1,64}")

T = TypeVar("T")


def new_key() -> str:
    """32 hex characters from the OS CSPRNG: 128 bits nobody guesses."""
    return secrets.token_hex(16)


def parse_key_pairs(raw: str) -> tuple[tuple[str, str], ...]:
    """`project:key,project2:key2` → ((project, key), ...)."""
    pairs = []
    for part in parse_csv(raw):
        project, sep, key = part.rpartition(":")
        project = project.strip()
        key = key.strip()
        if not sep or not project or len(project) > MAX_PROJECT or not KEY.fullmatch(key):
            raise ValueError(
                "expected comma-separated project:key pairs (a project of at most"
                f" {MAX_PROJECT} characters, a key of at most 64, no spaces): {part}"
            )
        pairs.append((project, key))
    return tuple(pairs)


@dataclass
class KeyRing(Generic[T]):
    """The active keys in memory: public key → what it stands for (a project)."""

    keys: dict[bytes, T]
    loaded: float

    @classmethod
    def of(cls, keys: dict[bytes, T]) -> KeyRing[T]:
        return cls(keys, time.monotonic())

    @property
    def stale(self) -> bool:
        return time.monotonic() - self.loaded > RELOAD

    def find(self, given: bytes) -> T | None:
        """What the key stands for, or None. Every active key is compared (in constant
        time) so the answer's timing says nothing about which keys exist."""
        found = None
        for key, value in self.keys.items():
            if hmac.compare_digest(key, given):
                found = value
        return found
