"""Per-key rate limit (``WALLETS_API_RATE_LIMIT``, e.g. ``6000/min``); over it is 429 with Retry-After.

The count lives in Django's cache: with Redis (``CACHE_URL``, production) one pipelined round trip
per request (``SET NX EX`` opens the window, ``INCR`` counts, ``TTL`` gives what is left of it),
atomic in Redis, so the limit holds across gunicorn workers and hosts; with another cache
``cache.add`` + ``cache.incr``. The local-memory default counts per process, so N workers allow up to N
times the rate. (DRF's own ``SimpleRateThrottle`` reads, appends and writes back a list of
timestamps: two workers racing both pass, so it is not used for the count.)

The window is fixed and starts at a key's first request: at most ``num_requests`` per window,
Retry-After is the time left in it. If the cache is down the request is allowed (and logged):
fail-open, deliberately. An outage of the limiter must not become an outage of the API; the limit
protects capacity, not money (every posting is still checked under the wallet's row lock).
"""

import logging
import math

from django.core.cache.backends.redis import RedisCache
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from wallets.api.auth import ApiPrincipal

logger = logging.getLogger("wallets.api")


class ApiKeyRateThrottle(SimpleRateThrottle):
    scope = "api_key"

    def get_rate(self):
        # DRF binds THROTTLE_RATES once, at import; reading the settings per request lets a
        # changed REST_FRAMEWORK setting (override_settings in tests) take effect.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        principal = request.auth
        if not isinstance(principal, ApiPrincipal):
            return None
        return self.cache_format % {"scope": self.scope, "ident": f"{principal.actor.type}:{principal.actor.id}"}

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        now = self.timer()
        try:
            if isinstance(self.cache, RedisCache):
                count, left = self._count_in_redis(key)
            else:
                count, left = self._count(key, now), None
        except Exception:  # the cache is unreachable: do not turn that into failed requests
            logger.warning("rate limit not applied: the cache is unavailable", exc_info=True)
            return True
        if count <= self.num_requests:
            return True
        if left is None:
            try:
                left = (self.cache.get(f"{key}:start") or now) + self.duration - now
            except Exception:  # the cache went away mid-request: the window's full length
                left = self.duration
        self.wait_seconds = max(1, math.ceil(left))
        return False

    def _count_in_redis(self, key: str) -> tuple[int, float]:
        """The window's count after this request and its seconds left, in one round trip."""
        full_key = self.cache.make_and_validate_key(key)
        client = self.cache._cache.get_client(full_key, write=True)  # Django's own Redis client
        pipe = client.pipeline(transaction=True)
        pipe.set(full_key, 0, ex=int(self.duration), nx=True)
        pipe.incr(full_key)
        pipe.ttl(full_key)
        _, count, left = pipe.execute()
        return int(count), float(left if left > 0 else self.duration)

    def _count(self, key: str, now: float) -> int:
        for _ in range(2):
            if self.cache.add(key, 1, timeout=self.duration):  # the first request of a new window
                self.cache.set(f"{key}:start", now, timeout=self.duration)
                return 1
            try:
                return self.cache.incr(key)
            except ValueError:  # the window expired between add and incr: open the next one
                continue
        return 1

    def wait(self):
        return getattr(self, "wait_seconds", None)
