"""Rate limits: token buckets per agent, per tool and per agent and tool, in-process or
shared by replicas through Redis (127.0.0.1:6379); refused calls get a retry-after, are
audited and counted, and an unreachable Redis refuses calls instead of letting them through."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from gateway.audit import read_records
from gateway.config import ConfigError, RateLimitRule, RateLimitSettings, parse_config
from gateway.mcp.client import connect
from gateway.ratelimit import LimiterUnavailable, LocalBuckets, RateLimiter, RedisBuckets
from gateway.serving import free_port
from tests.support.gateway import RunningGateway, require_service
from tests.support.ops import sample
from tests.support.stores import REDIS, redis_reachable


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rule(per: str, rate: float, burst: int, **kw: str) -> RateLimitRule:
    return RateLimitRule(per=per, rate_per_second=rate, burst=burst, **kw)


async def test_a_bucket_admits_its_burst_then_refills_at_its_rate() -> None:
    clock = Clock()
    limiter = RateLimiter([rule("agent", 2, 3)], LocalBuckets(clock))
    assert [await limiter.take("a", "sap.x") for _ in range(3)] == [None, None, None]
    refused = await limiter.take("a", "sap.x")
    assert refused is not None and refused.retry_after == pytest.approx(0.5)
    assert "agent 'a' may make 2 calls per second (burst 3); retry after 0.50 s" in refused.describe("a", "sap.x")
    # Another agent has its own bucket.
    assert await limiter.take("b", "sap.x") is None
    clock.now += 0.5
    assert await limiter.take("a", "sap.x") is None
    assert await limiter.take("a", "sap.x") is not None
    clock.now += 100  # never more than the burst, however long the pause
    assert [await limiter.take("a", "sap.y") is None for _ in range(4)] == [True, True, True, False]


async def test_rules_match_tools_and_agents_and_take_all_or_nothing() -> None:
    clock = Clock()
    limiter = RateLimiter(
        [
            rule("tool", 1, 1, tools="sap.create_*"),
            rule("agent_tool", 10, 2, agents="bot-*"),
        ],
        LocalBuckets(clock),
    )
    # The tool bucket is shared by all agents; bot-1's pair bucket is its own.
    assert await limiter.take("alice", "sap.create_order") is None
    refused = await limiter.take("bot-1", "sap.create_order")
    assert refused is not None and refused.rule.per == "tool"
    assert "tool sap.create_order may make 1 calls per second" in refused.describe("bot-1", "sap.create_order")
    # The refusal took nothing from bot-1's pair bucket: two calls still fit in it.
    assert await limiter.take("bot-1", "sap.read") is None
    assert await limiter.take("bot-1", "sap.read") is None
    assert (await limiter.take("bot-1", "sap.read")).rule.per == "agent_tool"  # type: ignore[union-attr]
    # Unmatched calls are not counted at all.
    assert [await limiter.take("alice", "oracle.find") for _ in range(50)] == [None] * 50


async def test_many_agents_do_not_grow_the_buckets_forever() -> None:
    clock = Clock()
    buckets = LocalBuckets(clock)
    limiter = RateLimiter([rule("agent", 100, 1)], buckets)
    for i in range(3 * LocalBuckets.PRUNE_ABOVE):
        clock.now += 0.001
        await limiter.take(f"agent-{i}", "t.x")
    assert len(buckets) <= LocalBuckets.PRUNE_ABOVE + 1


def test_config_names_the_bad_key() -> None:
    base: dict[str, Any] = {"allow_inline_secrets": True, "identity": {"secret": "s" * 40}}
    zero = {"rules": [{"per": "agent", "rate_per_second": 0}]}
    with pytest.raises(ConfigError, match=r"limits\.rules\.0\.rate_per_second"):
        parse_config({**base, "limits": zero}, base_dir=Path(), environ={})
    with pytest.raises(ConfigError, match=r"limits\.redis_url"):
        parse_config({**base, "limits": {"redis_url": "http://x"}}, base_dir=Path(), environ={})
    config = parse_config(
        {**base, "limits": {"rules": [{"per": "tool", "rate_per_second": 2.5}]}},
        base_dir=Path(),
        environ={"GATEWAY_LIMITS__REDIS_URL": REDIS},
    )
    assert config.limits == RateLimitSettings(rules=(rule("tool", 2.5, 3),), redis_url=REDIS)


async def test_replicas_share_buckets_through_redis() -> None:
    require_service("Redis on 127.0.0.1:6379", await redis_reachable())
    prefix = f"gateway-test:{uuid.uuid4().hex}:"
    rules = [rule("agent", 0.5, 3)]
    replicas = [RateLimiter(rules, RedisBuckets(REDIS, prefix=prefix)) for _ in range(2)]
    try:
        taken = [await replicas[i % 2].take("agent-1", "sap.x") for i in range(3)]
        assert taken == [None, None, None]
        for replica in replicas:
            refused = await replica.take("agent-1", "sap.x")
            assert refused is not None and 0 < refused.retry_after <= 2.0
        assert await replicas[1].take("agent-2", "sap.x") is None
    finally:
        client = aioredis.from_url(REDIS)
        keys = [key async for key in client.scan_iter(f"{prefix}*")]
        ttls = [await client.pttl(key) for key in keys]
        assert ttls and all(0 < ttl <= 7000 for ttl in ttls)  # buckets expire once idle and full
        await client.delete(*keys)
        await client.aclose()
        for replica in replicas:
            await replica.close()


async def test_unreachable_redis_refuses_rather_than_admits() -> None:
    limiter = RateLimiter([rule("agent", 1, 1)], RedisBuckets(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5))
    try:
        with pytest.raises(LimiterUnavailable, match="unavailable"):
            await limiter.take("a", "sap.x")
    finally:
        await limiter.close()


async def _echo(gw: RunningGateway, subject: str) -> tuple[bool, str]:
    async with connect(gw.mcp_url, gw.token(subject)) as client:
        result = await client.call_tool("echo.echo", {"text": "hi"})
    return result.is_error, result.content[0].text


async def test_limited_calls_are_refused_with_retry_after_audited_and_counted(echo_upstream, start_gateway) -> None:
    url, upstream = echo_upstream
    limits = {"rules": [{"per": "agent", "rate_per_second": 0.1, "burst": 2, "tools": "echo.*"}]}
    async with start_gateway({"echo": {"kind": "mcp", "url": url}}, limits=limits) as gw:
        assert [await _echo(gw, "agent-1") for _ in range(2)] == [(False, "hi"), (False, "hi")]
        refused, message = await _echo(gw, "agent-1")
        assert refused and "rate limit: agent 'agent-1' may make 0.1 calls per second (burst 2)" in message
        assert "retry after" in message
        assert await _echo(gw, "agent-2") == (False, "hi")
        metrics = await gw.scrape()
    assert sample(metrics, "gateway_rejected_requests_total", reason="rate_limited") == 1
    assert sample(metrics, "gateway_stage_duration_seconds_count", stage="rate_limit") == 4
    assert len(upstream.state.calls) == 3  # the refused call never reached the backend
    records = list(read_records(gw.config.audit.database))
    [rejected] = [r for r in records if r.kind == "call.rejected"]
    assert rejected.data["stage"] == "rate_limit"
    assert "retry after" in rejected.data["reason"]
    kinds = [r.kind for r in records if r.call_id == rejected.call_id]
    assert kinds == ["call.received", "call.rejected"]


async def test_an_unreachable_redis_refuses_calls_through_the_gateway(echo_upstream, start_gateway) -> None:
    url, upstream = echo_upstream
    limits = {"redis_url": f"redis://127.0.0.1:{free_port()}/0", "rules": [{"per": "agent", "rate_per_second": 5}]}
    async with start_gateway({"echo": {"kind": "mcp", "url": url}}, limits=limits) as gw:
        refused, message = await _echo(gw, "agent-1")
    assert refused and "rate limit store" in message and "not forwarded" in message
    assert upstream.state.calls == []
