"""Webhook flood control at the function level (the receiver calls it; wiring is the ingest's):
a per-endpoint ceiling of verified requests per second, 429 + Retry-After beyond it, and junk
that fails verification neither reaches the counter nor spends a valid sender's budget."""

from __future__ import annotations

import json
import secrets
from collections import Counter

import pytest

from gateway.kit.errors import RateLimited, SignatureInvalid
from gateway.kit.metrics import RATE_LIMITED, WEBHOOKS_REJECTED
from gateway.kit.runtime import Runtime
from gateway.limits.service import check_webhook_flood, record_rejected_webhook
from gateway.providers.registry import get_provider
from gateway.providers.webhooks import VerifiedWebhook
from tests.conftest import make_tenant
from tests.limits.conftest import FakeClock, set_limits
from tests.providers.webhooks.signing import SignedDelivery, sign_github

SECRET = "flood-test-secret"


async def admit(
    runtime: Runtime, tenant_id: str, endpoint_id: str, delivery: SignedDelivery, now: float
) -> VerifiedWebhook:
    """The receive order the limits contract requires: verify, count junk, then the ceiling."""
    github = get_provider("github")
    assert github is not None
    assert github.verifier is not None
    config = github.verifier.parse_config({"secret": SECRET})
    try:
        verified = github.verifier.verify(delivery.request(now), config)
    except SignatureInvalid as exc:
        record_rejected_webhook("github", exc.code)
        raise
    await check_webhook_flood(runtime, tenant_id, endpoint_id)
    return verified


def _github_rejections() -> dict[str, float]:
    """``gateway_webhooks_rejected_total`` for provider github, by reason."""
    return {
        sample.labels["reason"]: sample.value
        for metric in WEBHOOKS_REJECTED.collect()
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.labels.get("provider") == "github"
    }


def delivery(n: int) -> SignedDelivery:
    body = json.dumps({"zen": "flood", "n": n}).encode()
    return sign_github(SECRET, body, delivery=f"d-{n}")


async def test_ceiling_per_endpoint_then_open_again(
    limited_runtime: Runtime, clock: FakeClock
) -> None:
    ctx = await make_tenant(limited_runtime)
    await set_limits(limited_runtime, ctx.tenant.id, webhook_rps=5)
    before = RATE_LIMITED.labels("webhook_endpoint")._value.get()
    for _ in range(5):
        await check_webhook_flood(limited_runtime, ctx.tenant.id, "whe_a")
    with pytest.raises(RateLimited) as refused:
        await check_webhook_flood(limited_runtime, ctx.tenant.id, "whe_a")
    assert refused.value.status_code == 429
    assert refused.value.code == "webhook_rate_limited"
    assert refused.value.headers["Retry-After"] == "1"
    assert refused.value.retry_after == pytest.approx(0.2, abs=1e-4)
    assert RATE_LIMITED.labels("webhook_endpoint")._value.get() == before + 1
    # another endpoint of the same tenant, and another tenant, are not affected
    await check_webhook_flood(limited_runtime, ctx.tenant.id, "whe_b")
    other = await make_tenant(limited_runtime)
    await set_limits(limited_runtime, other.tenant.id, webhook_rps=5)
    await check_webhook_flood(limited_runtime, other.tenant.id, "whe_a")
    clock.advance(1)
    for _ in range(5):
        await check_webhook_flood(limited_runtime, ctx.tenant.id, "whe_a")


async def test_unsigned_flood_does_not_consume_a_valid_senders_budget(
    limited_runtime: Runtime, clock: FakeClock
) -> None:
    ctx = await make_tenant(limited_runtime)
    endpoint = f"whe_{secrets.token_hex(4)}"
    await set_limits(limited_runtime, ctx.tenant.id, webhook_rps=3)
    limited_before = RATE_LIMITED.labels("webhook_endpoint")._value.get()
    forged = [
        delivery(i).with_headers(x_hub_signature_256="sha256=" + "0" * 64) for i in range(200)
    ]
    unsigned = [delivery(i).with_headers(x_hub_signature_256=None) for i in range(200)]
    junk_before = _github_rejections()
    reasons: Counter[str] = Counter()
    for bad in forged + unsigned:
        with pytest.raises(SignatureInvalid) as rejected:
            await admit(limited_runtime, ctx.tenant.id, endpoint, bad, clock.now)
        reasons[rejected.value.code] += 1
    # junk is counted, as junk (by provider and reason), in metrics
    junk_after = _github_rejections()
    assert sum(reasons.values()) == 400
    assert {r: junk_after[r] - junk_before.get(r, 0) for r in reasons} == reasons
    assert RATE_LIMITED.labels("webhook_endpoint")._value.get() == limited_before
    # within the same second the real sender still has its whole budget
    accepted = [
        await admit(limited_runtime, ctx.tenant.id, endpoint, delivery(i), clock.now)
        for i in range(3)
    ]
    assert [v.provider_event_id for v in accepted] == ["d-0", "d-1", "d-2"]
    with pytest.raises(RateLimited):
        await admit(limited_runtime, ctx.tenant.id, endpoint, delivery(3), clock.now)


async def test_unlimited_endpoint_is_never_refused(
    limited_runtime: Runtime, clock: FakeClock
) -> None:
    ctx = await make_tenant(limited_runtime)
    await set_limits(limited_runtime, ctx.tenant.id, webhook_rps=0)
    for _ in range(500):
        await check_webhook_flood(limited_runtime, ctx.tenant.id, "whe_free")
