"""API keys (stored hashed) and per-key rate limits.

A key looks like ``rg_<id>_<secret>``; the id is public (logs, ``keys list``), the secret is
shown once. Keys carry 256 random bits, so a fast SHA-256 is the right hash here: slow
password hashes (bcrypt, argon2) protect guessable secrets and would add milliseconds to
every keystroke check.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from service.db import ApiKey, utcnow

PREFIX = "rg_"
TENANT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # also a file name: catalogue_dir/TENANT.yaml


@dataclass(frozen=True)
class Caller:
    """Who is calling: the tenant selects stored data and the suggestion catalogue."""

    tenant: str
    key_id: str | None = None
    rate_per_minute: int | None = None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore:
    """Create, list, revoke and verify keys; verified keys are cached for ``cache_s`` seconds."""

    def __init__(self, sessions: sessionmaker, cache_s: float = 10.0) -> None:
        self.sessions = sessions
        self.cache_s = cache_s
        self._cache: dict[str, tuple[float, Caller | None]] = {}
        self._lock = threading.Lock()

    def create(self, tenant: str, name: str = "", rate_per_minute: int | None = None) -> tuple[str, ApiKey]:
        """Make a key; returns (the key, shown only now; its stored row)."""
        if not TENANT.match(tenant):
            raise ValueError(f"tenant must be 1-64 letters, digits, '-' or '_', got {tenant!r}")
        key_id = secrets.token_hex(4)
        key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        row = ApiKey(id=key_id, key_hash=hash_key(key), tenant=tenant, name=name, rate_per_minute=rate_per_minute)
        with self.sessions() as s:
            s.add(row)
            s.commit()
        return key, row

    def list(self) -> list[ApiKey]:
        with self.sessions() as s:
            return list(s.scalars(select(ApiKey).order_by(ApiKey.created_at)))

    def revoke(self, key_id: str) -> bool:
        with self.sessions() as s:
            row = s.get(ApiKey, key_id)
            if row is None or row.revoked_at is not None:
                return False
            row.revoked_at = utcnow()
            s.commit()
        with self._lock:
            self._cache.clear()
        return True

    def verify(self, key: str | None) -> Caller | None:
        """The caller for a presented key, or None when it is unknown, malformed or revoked."""
        if not key or not key.startswith(PREFIX) or len(key) > 200:
            return None
        digest = hash_key(key)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(digest)
        if hit and hit[0] > now:
            return hit[1]
        key_id = key[len(PREFIX):].split("_", 1)[0]
        with self.sessions() as s:
            row = s.get(ApiKey, key_id)
            ok = row is not None and row.revoked_at is None and hmac.compare_digest(row.key_hash, digest)
            caller = Caller(row.tenant, row.id, row.rate_per_minute) if ok and row else None
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (now + self.cache_s, caller)
        return caller


class RateLimiter:
    """Token bucket per caller: refills at ``rate``/minute and holds one minute's worth.

    In-process, so with several workers each enforces the limit on its own share of traffic.

    >>> rl = RateLimiter(2)
    >>> [rl.take("k") for _ in range(3)]
    [0.0, 0.0, 30.0]
    """

    def __init__(self, per_minute: int, max_callers: int = 50_000) -> None:
        self.per_minute = per_minute
        self.max_callers = max_callers
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # who -> (tokens, t)
        self._lock = threading.Lock()

    def take(self, who: str, per_minute: int | None = None) -> float:
        """Spend one token; returns 0 when allowed, else the seconds until a token is back."""
        rate = float(per_minute or self.per_minute)
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.pop(who, (rate, now))
            tokens = min(rate, tokens + (now - last) * rate / 60.0)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) * 60.0 / rate
            self._buckets[who] = (tokens, now)
            while len(self._buckets) > self.max_callers:
                self._buckets.popitem(last=False)
        return round(wait, 1)
