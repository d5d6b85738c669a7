"""Rate limits: token buckets per agent, per tool or per agent and tool, from `limits.rules`.

A call takes one token from the bucket of every rule that matches it, all or none: a call
refused by one rule costs nothing in the others. Buckets live in this process, or in Redis
when `limits.redis_url` is set, so that every replica draws on the same buckets (one Lua
script checks and takes atomically, timed by the Redis server's clock).
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.config import RateLimitRule, RateLimitSettings


class LimiterUnavailable(Exception):
    """The shared buckets could not be reached; the call must not go through unmetered."""


@dataclass(frozen=True, slots=True)
class Bucket:
    key: str
    rate: float
    burst: int


@dataclass(frozen=True, slots=True)
class Limited:
    """Refused: the rule that ran out and how long until the call would be admitted."""

    rule: RateLimitRule
    retry_after: float

    def describe(self, agent: str, tool: str) -> str:
        who = {"agent": f"agent {agent!r}", "tool": f"tool {tool}", "agent_tool": f"agent {agent!r} on {tool}"}
        rule = self.rule
        return (
            f"rate limit: {who[rule.per]} may make {rule.rate_per_second:g} calls per second "
            f"(burst {rule.burst}); retry after {self.retry_after:.2f} s"
        )


class Buckets(Protocol):
    async def take(self, buckets: Sequence[Bucket]) -> tuple[int, float] | None:
        """Take one token from each bucket, or none: None when taken, else (index of the
        first empty bucket, seconds until it has a token)."""

    async def close(self) -> None: ...


class LocalBuckets:
    """Buckets in this process: (tokens, updated, time it is full again) per key."""

    #: Above this many buckets, the ones full again are forgotten (they would come back full).
    PRUNE_ABOVE = 10_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._state: dict[str, tuple[float, float, float]] = {}

    def __len__(self) -> int:
        return len(self._state)

    async def take(self, buckets: Sequence[Bucket]) -> tuple[int, float] | None:
        now = self._clock()
        levels = [self._level(b, now) for b in buckets]
        for i, (bucket, tokens) in enumerate(zip(buckets, levels, strict=True)):
            if tokens < 1:
                return i, (1 - tokens) / bucket.rate
        for bucket, tokens in zip(buckets, levels, strict=True):
            left = tokens - 1
            self._state[bucket.key] = (left, now, now + (bucket.burst - left) / bucket.rate)
        if len(self._state) > self.PRUNE_ABOVE:
            self._state = {key: state for key, state in self._state.items() if state[2] > now}
        return None

    def _level(self, bucket: Bucket, now: float) -> float:
        tokens, updated, _ = self._state.get(bucket.key, (bucket.burst, now, now))
        return min(bucket.burst, tokens + (now - updated) * bucket.rate)

    async def close(self) -> None:
        self._state.clear()


# KEYS: bucket keys; ARGV: rate1, burst1, rate2, burst2, ...
# Returns {-1, 0} when taken, else {index of the first empty bucket (0-based), wait in ms}.
_TAKE = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
local levels = {}
for i, key in ipairs(KEYS) do
  local rate, burst = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local state = redis.call('HMGET', key, 'tokens', 'at')
  local tokens, at = tonumber(state[1]) or burst, tonumber(state[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
  if tokens < 1 then
    return {i - 1, math.ceil((1 - tokens) / rate * 1000)}
  end
  levels[i] = tokens
end
for i, key in ipairs(KEYS) do
  local rate, burst = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  redis.call('HSET', key, 'tokens', tostring(levels[i] - 1), 'at', tostring(now))
  redis.call('PEXPIRE', key, math.ceil(burst / rate * 1000) + 1000)
end
return {-1, 0}
"""


class RedisBuckets:
    """Buckets in Redis, shared by every replica pointed at the same server."""

    def __init__(self, url: str, *, prefix: str = "gateway:ratelimit:", timeout: float = 1.0) -> None:
        self._redis = aioredis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._script = self._redis.register_script(_TAKE)
        self._prefix = prefix
        self._where = url.split("@")[-1]

    async def take(self, buckets: Sequence[Bucket]) -> tuple[int, float] | None:
        keys = [self._prefix + b.key for b in buckets]
        args = [str(v) for b in buckets for v in (b.rate, b.burst)]
        try:
            index, wait_ms = await self._script(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            raise LimiterUnavailable(f"rate limit store {self._where} is unavailable: {exc}") from None
        return None if index < 0 else (int(index), wait_ms / 1000)

    async def close(self) -> None:
        await self._redis.aclose()


class RateLimiter:
    def __init__(self, rules: Sequence[RateLimitRule], buckets: Buckets) -> None:
        self.rules = tuple(rules)
        self._buckets = buckets

    @classmethod
    def from_settings(cls, settings: RateLimitSettings) -> RateLimiter:
        buckets = RedisBuckets(settings.redis_url) if settings.redis_url else LocalBuckets()
        return cls(settings.rules, buckets)

    async def take(self, agent: str, tool: str) -> Limited | None:
        """Count one call of `agent` to `tool` (connector.tool); None when admitted.

        Raises LimiterUnavailable when the shared buckets cannot be reached."""
        matching = [
            (rule, i)
            for i, rule in enumerate(self.rules)
            if fnmatch.fnmatchcase(tool, rule.tools) and fnmatch.fnmatchcase(agent, rule.agents)
        ]
        if not matching:
            return None
        buckets = [Bucket(_key(i, rule, agent, tool), rule.rate_per_second, rule.burst) for rule, i in matching]
        refused = await self._buckets.take(buckets)
        if refused is None:
            return None
        index, wait = refused
        return Limited(matching[index][0], max(wait, 0.001))

    async def close(self) -> None:
        await self._buckets.close()


def _key(index: int, rule: RateLimitRule, agent: str, tool: str) -> str:
    # The rule's position and numbers are in the key: an edited rule starts with fresh buckets.
    subject = {"agent": agent, "tool": tool, "agent_tool": f"{agent}\x1f{tool}"}[rule.per]
    return f"{index}:{rule.per}:{rule.rate_per_second:g}:{rule.burst}:{subject}"

