"""Authorization URLs per provider: endpoint, parameters, separators and PKCE S256."""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
from slack_sdk.oauth import AuthorizeUrlGenerator

from gateway.providers.dingtalk.oauth import DINGTALK_OAUTH
from gateway.providers.discord.oauth import DISCORD_OAUTH
from gateway.providers.lark.oauth import LARK_OAUTH
from gateway.providers.oauth import (
    OAuthSpec,
    build_authorization_url,
    custom_spec,
    pkce_challenge,
    pkce_pair,
)
from gateway.providers.slack.oauth import SLACK_OAUTH, slack_authorize_params
from gateway.providers.telegram.oauth import OAUTH as TELEGRAM_OAUTH
from gateway.providers.wecom.oauth import WECOM_OAUTH

REDIRECT = "https://gw.example.com/oauth/x/callback?tenant=a b"
STATE = "st-" + "A" * 40


def _query(url: str) -> dict[str, str]:
    params = parse_qs(urlsplit(url).query, keep_blank_values=True)
    assert all(len(values) == 1 for values in params.values()), params
    return {key: values[0] for key, values in params.items()}


def _endpoint(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def test_rfc7636_appendix_b_vector() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_pkce_pair_is_random_43_char_verifier_with_s256_challenge() -> None:
    pairs = {pkce_pair() for _ in range(20)}
    assert len(pairs) == 20
    for verifier, challenge in pairs:
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", verifier)  # 32 bytes, base64url, no padding
        digest = hashlib.sha256(verifier.encode()).digest()
        assert challenge == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_slack_url_matches_slack_sdk_generator() -> None:
    url = build_authorization_url(
        SLACK_OAUTH,
        client_id="111.222",
        redirect_uri=REDIRECT,
        state=STATE,
        scopes=["chat:write", "commands"],
        extra_params=slack_authorize_params(user_scopes=["search:read", "users:read"]),
    )
    official = AuthorizeUrlGenerator(
        client_id="111.222",
        scopes=["chat:write", "commands"],
        user_scopes=["search:read", "users:read"],
        redirect_uri=REDIRECT,
    ).generate(STATE)
    assert _endpoint(url) == _endpoint(official) == "https://slack.com/oauth/v2/authorize"
    ours, theirs = _query(url), _query(official)
    assert {k: v for k, v in ours.items() if k != "response_type"} == theirs
    assert ours["scope"] == "chat:write,commands"  # comma-separated, not spaces
    assert ours["user_scope"] == "search:read,users:read"
    assert "code_challenge" not in ours  # Slack PKCE would turn the app into a public client


def test_slack_ignores_a_challenge_because_pkce_is_off() -> None:
    url = build_authorization_url(
        SLACK_OAUTH, client_id="1", redirect_uri=REDIRECT, state=STATE, code_challenge="x" * 43
    )
    assert "code_challenge" not in _query(url)


def test_discord_url_uses_percent20_scopes_and_prompt_consent() -> None:
    url = build_authorization_url(
        DISCORD_OAUTH, client_id="157730590492196864", redirect_uri=REDIRECT, state=STATE
    )
    assert _endpoint(url) == "https://discord.com/oauth2/authorize"
    assert "scope=identify%20guilds" in url  # the docs' %20 form, not "+"
    assert _query(url) == {
        "client_id": "157730590492196864",
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "identify guilds",
        "state": STATE,
        "prompt": "consent",
    }


def test_lark_url_carries_s256_challenge_of_the_verifier() -> None:
    verifier, challenge = pkce_pair()
    url = build_authorization_url(
        LARK_OAUTH,
        client_id="cli_a5ca35a685b0x26e",
        redirect_uri=REDIRECT,
        state=STATE,
        code_challenge=challenge,
        scopes=["contact:user.base:readonly", "offline_access"],
    )
    query = _query(url)
    assert _endpoint(url) == "https://accounts.feishu.cn/open-apis/authen/v1/authorize"
    assert query["scope"] == "contact:user.base:readonly offline_access"
    assert query["code_challenge_method"] == "S256"
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    assert query["code_challenge"] == expected.rstrip(b"=").decode()
    assert verifier not in url  # the verifier never leaves the server (O2)


def test_pkce_spec_refuses_to_build_without_a_challenge() -> None:
    with pytest.raises(ValueError, match="PKCE"):
        build_authorization_url(LARK_OAUTH, client_id="c", redirect_uri=REDIRECT, state=STATE)


def test_dingtalk_url_defaults() -> None:
    url = build_authorization_url(
        DINGTALK_OAUTH, client_id="dingxxx", redirect_uri=REDIRECT, state=STATE
    )
    assert _endpoint(url) == "https://login.dingtalk.com/oauth2/auth"
    assert _query(url) == {
        "client_id": "dingxxx",
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "openid corpid",
        "state": STATE,
        "prompt": "consent",
    }
    assert DINGTALK_OAUTH.code_param == "authCode"


def test_wecom_url_has_documented_order_appid_and_fragment() -> None:
    url = build_authorization_url(
        WECOM_OAUTH,
        client_id="ww1436e0e65a779aee",
        redirect_uri=REDIRECT,
        state=STATE,
        extra_params={"agentid": "1000002"},
    )
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        "https://open.weixin.qq.com/connect/oauth2/authorize"
    )
    assert parts.fragment == "wechat_redirect"
    assert [key for key, _ in parse_qsl(parts.query)] == [
        "appid",
        "redirect_uri",
        "response_type",
        "scope",
        "state",
        "agentid",
    ]
    assert _query(url)["scope"] == "snsapi_base"


def test_telegram_has_no_oauth() -> None:
    assert TELEGRAM_OAUTH is None


@pytest.mark.parametrize("key", ["state", "client_id", "redirect_uri", "scope", "code_challenge"])
def test_extra_params_cannot_override_protocol_parameters(key: str) -> None:
    with pytest.raises(ValueError, match="may not set"):
        build_authorization_url(
            SLACK_OAUTH, client_id="c", redirect_uri=REDIRECT, state=STATE, extra_params={key: "x"}
        )


def test_wecom_extra_params_cannot_override_appid() -> None:
    with pytest.raises(ValueError, match="appid"):
        build_authorization_url(
            WECOM_OAUTH,
            client_id="c",
            redirect_uri=REDIRECT,
            state=STATE,
            extra_params={"appid": "x"},
        )


def test_state_is_required() -> None:
    with pytest.raises(ValueError, match="state"):
        build_authorization_url(DISCORD_OAUTH, client_id="c", redirect_uri=REDIRECT, state="")


def test_custom_spec_keeps_existing_query_and_uses_its_separator() -> None:
    spec = custom_spec(
        authorization_url="https://idp.example.com/authorize?tenant=acme",
        token_url="https://idp.example.com/token",
        scopes=["read", "write"],
        scope_separator=",",
        extra_authorize_params={"access_type": "offline"},
    )
    verifier, challenge = pkce_pair()
    url = build_authorization_url(
        spec, client_id="cid", redirect_uri=REDIRECT, state=STATE, code_challenge=challenge
    )
    query = _query(url)
    assert url.startswith("https://idp.example.com/authorize?tenant=acme&")
    assert query["scope"] == "read,write"
    assert query["access_type"] == "offline"
    assert query["code_challenge"] == pkce_challenge(verifier)


def test_explicit_empty_scopes_omit_the_parameter() -> None:
    url = build_authorization_url(
        DISCORD_OAUTH, client_id="c", redirect_uri=REDIRECT, state=STATE, scopes=[]
    )
    assert "scope" not in _query(url)


def test_rebased_spec_points_every_endpoint_at_the_base() -> None:
    spec: OAuthSpec = SLACK_OAUTH.rebased("http://127.0.0.1:8999/prefix/")
    assert spec.authorization_url == "http://127.0.0.1:8999/prefix/oauth/v2/authorize"
    assert spec.token_url == "http://127.0.0.1:8999/prefix/api/oauth.v2.access"
    assert spec.revocation_url == "http://127.0.0.1:8999/prefix/api/auth.revoke"
    assert spec.token_parser is SLACK_OAUTH.token_parser
