"""Every signing scheme through the running app: endpoint via the API → signed delivery → 2xx →
queued processing → a processed event with the right unified type in ``GET /v1/events``."""

from __future__ import annotations

import json

import httpx
import pytest

from gateway.kit.runtime import Runtime
from gateway.providers.wxcrypto import WxMsgCrypt
from tests.conftest import JobRunner, TenantCtx
from tests.providers.webhooks import signing
from tests.providers.webhooks.cases import DINGTALK_CURRENT, RFC8032_SEED, WECOM_CURRENT
from tests.providers.webhooks.signing import json_bytes
from tests.webhooks.support import (
    LARK_ENCRYPT_KEY,
    LARK_TOKEN,
    SCHEMES,
    SLACK_SECRET,
    Scheme,
    create_endpoint,
    endpoint_events,
    now,
    receiver_path,
    send,
    settle,
)


@pytest.mark.parametrize("scheme", SCHEMES, ids=str)
async def test_signed_delivery_is_stored_acknowledged_and_processed(
    scheme: Scheme,
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    runtime: Runtime,
    job_runner: JobRunner,
) -> None:
    endpoint = await create_endpoint(client, tenant, scheme.provider, scheme.config)
    assert endpoint["url"] == f"http://testserver/webhooks/{scheme.provider}/{endpoint['id']}"

    response = await send(client, receiver_path(endpoint), scheme.deliver(scheme.body, now()))

    assert response.status_code == scheme.ack_status, response.text
    if scheme.ack_body is not None:
        assert response.content == scheme.ack_body
    # Durable before the answer: the row is already there, whatever the queue does next.
    stored = await endpoint_events(client, tenant, endpoint["id"])
    assert len(stored) == 1

    await settle(runtime, job_runner)

    [event] = await endpoint_events(client, tenant, endpoint["id"])
    assert event["status"] == "processed", event
    assert event["type"] == scheme.expected_type
    assert event["provider"] == scheme.provider
    assert event["attempts"] == 1
    detail = (await client.get(f"/v1/events/{event['id']}", headers=tenant.headers)).json()
    assert detail["raw"] is not None
    assert detail["received_at"]
    assert detail["occurred_at"]


async def test_dingtalk_event_is_answered_with_the_encrypted_success_envelope(
    client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    token, aes_key, app_key = DINGTALK_CURRENT
    endpoint = await create_endpoint(
        client, tenant, "dingtalk", {"token": token, "aes_key": aes_key, "app_key": app_key}
    )
    plaintext = json_bytes({"EventType": "user_add_org", "EventId": "e-9", "UserId": ["u1"]})
    delivery = signing.encrypt_dingtalk(token, aes_key, app_key, plaintext, now() * 1000)

    response = await send(client, receiver_path(endpoint), delivery)

    assert response.status_code == 200
    envelope = response.json()
    crypt = WxMsgCrypt.create(token, aes_key, app_key)
    assert crypt.signature_matches(
        envelope["msg_signature"], envelope["timeStamp"], envelope["nonce"], envelope["encrypt"]
    )
    assert crypt.decrypt(envelope["encrypt"]) == b"success"


# --- URL-verification handshakes: answered exactly, nothing stored ---------------------------


async def _assert_nothing_stored(
    client: httpx.AsyncClient, tenant: TenantCtx, endpoint_id: str
) -> None:
    assert await endpoint_events(client, tenant, endpoint_id) == []


async def test_slack_url_verification(client: httpx.AsyncClient, tenant: TenantCtx) -> None:
    endpoint = await create_endpoint(client, tenant, "slack", {"signing_secret": SLACK_SECRET})
    body = json_bytes(
        {"token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3g", "type": "url_verification"}
    )
    response = await send(
        client, receiver_path(endpoint), signing.sign_slack(SLACK_SECRET, body, now())
    )
    assert response.status_code == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3g"}
    await _assert_nothing_stored(client, tenant, endpoint["id"])


async def test_slack_url_verification_with_a_bad_signature_is_refused(
    client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    endpoint = await create_endpoint(client, tenant, "slack", {"signing_secret": SLACK_SECRET})
    # Not hex: "abc" alone also turned up inside a random request id now and then.
    challenge = "challenge-Not-Echoed-Qz"
    body = json_bytes({"token": "t", "challenge": challenge, "type": "url_verification"})
    response = await send(
        client, receiver_path(endpoint), signing.sign_slack("wrong-secret", body, now())
    )
    assert response.status_code == 401
    assert challenge not in response.text


async def test_discord_ping_is_answered_with_pong(
    client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    public_key = signing.discord_public_key(RFC8032_SEED)
    endpoint = await create_endpoint(client, tenant, "discord", {"public_key": public_key})
    delivery = signing.sign_discord(RFC8032_SEED, b'{"type":1}', str(now()))
    response = await send(client, receiver_path(endpoint), delivery)
    assert response.status_code == 200
    assert response.content == b'{"type":1}'
    await _assert_nothing_stored(client, tenant, endpoint["id"])


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_lark_challenge(
    client: httpx.AsyncClient, tenant: TenantCtx, encrypted: bool
) -> None:
    config = {"verification_token": LARK_TOKEN}
    if encrypted:
        config["encrypt_key"] = LARK_ENCRYPT_KEY
    endpoint = await create_endpoint(client, tenant, "lark", config)
    challenge = json_bytes(
        {"challenge": "ajls384kdjx98XX", "token": LARK_TOKEN, "type": "url_verification"}
    )
    if encrypted:  # Lark encrypts the challenge but does not sign it
        delivery = signing.lark_encrypted_delivery(LARK_ENCRYPT_KEY, challenge, now(), signed=False)
    else:
        delivery = signing.SignedDelivery(challenge, {"Content-Type": "application/json"})
    # The Feishu alias reaches the same endpoint.
    response = await send(client, receiver_path(endpoint, "feishu"), delivery)
    assert response.status_code == 200
    assert response.json() == {"challenge": "ajls384kdjx98XX"}
    await _assert_nothing_stored(client, tenant, endpoint["id"])


async def test_dingtalk_check_url(client: httpx.AsyncClient, tenant: TenantCtx) -> None:
    token, aes_key, app_key = DINGTALK_CURRENT
    endpoint = await create_endpoint(
        client, tenant, "dingtalk", {"token": token, "aes_key": aes_key, "app_key": app_key}
    )
    delivery = signing.encrypt_dingtalk(
        token, aes_key, app_key, b'{"EventType":"check_url"}', now() * 1000
    )
    response = await send(client, receiver_path(endpoint), delivery)
    assert response.status_code == 200
    crypt = WxMsgCrypt.create(token, aes_key, app_key)
    assert crypt.decrypt(response.json()["encrypt"]) == b"success"
    await _assert_nothing_stored(client, tenant, endpoint["id"])


async def test_wecom_echostr_get_answers_the_exact_plaintext(
    client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    token, aes_key, corp_id = WECOM_CURRENT
    endpoint = await create_endpoint(
        client, tenant, "wecom", {"token": token, "encoding_aes_key": aes_key, "corp_id": corp_id}
    )
    echo = b"1616140317555161061"
    delivery = signing.wecom_url_check(token, aes_key, corp_id, echo, now(), "1597212914")
    response = await send(client, receiver_path(endpoint), delivery)
    assert response.status_code == 200
    assert response.content == echo
    assert response.headers["content-type"].startswith("text/plain")
    await _assert_nothing_stored(client, tenant, endpoint["id"])


async def test_slack_form_encoded_slash_command_is_stored_as_interaction(
    client: httpx.AsyncClient, tenant: TenantCtx, runtime: Runtime, job_runner: JobRunner
) -> None:
    endpoint = await create_endpoint(client, tenant, "slack", {"signing_secret": SLACK_SECRET})
    body = (
        b"token=x&team_id=T1&channel_id=C2147483705&channel_name=general&user_id=U2147483697"
        b"&user_name=Steve&command=%2Fweather&text=94070&trigger_id=13345224609.738474920.8088"
    )
    delivery = signing.sign_slack(
        SLACK_SECRET, body, now(), content_type="application/x-www-form-urlencoded"
    )
    assert (await send(client, receiver_path(endpoint), delivery)).status_code == 200
    await settle(runtime, job_runner)
    [event] = await endpoint_events(client, tenant, endpoint["id"])
    assert event["type"] == "interaction.received"
    assert event["provider_event_id"] == "13345224609.738474920.8088"
    detail = (await client.get(f"/v1/events/{event['id']}", headers=tenant.headers)).json()
    assert detail["raw"]["command"] == "/weather"
    assert json.dumps(detail["raw"])  # the form is stored as a JSON document


async def test_non_canonical_json_is_stored_as_received_and_reads_back_the_same(
    client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    """The raw JSON body is the stored document (no re-serialisation): spacing, key order and
    ``\\u`` escapes survive, and the event API returns the same value the platform sent."""
    endpoint = await create_endpoint(client, tenant, "slack", {"signing_secret": SLACK_SECRET})
    body = (
        b'{ "type" : "event_callback",  "event_id":"EvCANON1", "team_id":"T1",\n'
        b' "event": {"user":"U1","type":"message","channel":"C1",'
        b'"text":"caf\\u00e9 \\ud83d\\ude80 \\u0000end","ts":"1.2"} }'
    )
    response = await send(
        client, receiver_path(endpoint), signing.sign_slack(SLACK_SECRET, body, now())
    )
    assert response.status_code == 200
    [event] = await endpoint_events(client, tenant, endpoint["id"])
    detail = (await client.get(f"/v1/events/{event['id']}", headers=tenant.headers)).json()
    assert detail["raw"] == json.loads(body)
    assert detail["raw"]["event"]["text"] == "café 🚀 \x00end"
