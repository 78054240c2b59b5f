"""Token request shapes: Basic vs body client auth, form vs JSON vs DingTalk camelCase."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from urllib.parse import parse_qsl, unquote_plus

import httpx
import pytest
from pydantic import SecretStr

from gateway.providers.dingtalk.oauth import DINGTALK_OAUTH
from gateway.providers.discord.oauth import DISCORD_OAUTH
from gateway.providers.lark.oauth import LARK_OAUTH
from gateway.providers.oauth import build_token_request, custom_spec
from gateway.providers.slack.oauth import SLACK_OAUTH
from gateway.providers.wecom.oauth import WECOM_OAUTH

REDIRECT = "https://gw.example.com/oauth/p/callback"
FORM = "application/x-www-form-urlencoded"


def _form(request: httpx.Request) -> dict[str, str]:
    assert request.headers["content-type"] == FORM
    return dict(parse_qsl(request.content.decode()))


def _json(request: httpx.Request) -> dict[str, str]:
    assert request.headers["content-type"] == "application/json"
    body = json.loads(request.content)
    assert isinstance(body, dict)
    return body


def _basic(request: httpx.Request) -> tuple[str, str]:
    scheme, _, encoded = request.headers["authorization"].partition(" ")
    assert scheme == "Basic"
    user, _, password = base64.b64decode(encoded).decode().partition(":")
    return unquote_plus(user), unquote_plus(password)


def test_slack_code_exchange_is_form_with_basic_auth() -> None:
    request = build_token_request(
        SLACK_OAUTH,
        client_id="111.222",
        client_secret=SecretStr("s3cr3t"),
        grant="authorization_code",
        code="c-1",
        redirect_uri=REDIRECT,
    )
    assert request.method == "POST"
    assert str(request.url) == "https://slack.com/api/oauth.v2.access"
    assert _basic(request) == ("111.222", "s3cr3t")
    assert _form(request) == {
        "grant_type": "authorization_code",
        "code": "c-1",
        "redirect_uri": REDIRECT,
    }


def test_slack_refresh_is_form_with_basic_auth() -> None:
    request = build_token_request(
        SLACK_OAUTH,
        client_id="111.222",
        client_secret="s3cr3t",
        grant="refresh_token",
        refresh_token=SecretStr("xoxe-1-abc"),
    )
    assert _form(request) == {"grant_type": "refresh_token", "refresh_token": "xoxe-1-abc"}
    assert _basic(request) == ("111.222", "s3cr3t")


def test_discord_is_form_only_with_basic_auth() -> None:
    request = build_token_request(
        DISCORD_OAUTH,
        client_id="332269999912132097",
        client_secret="937it3ow87i4ery69876wqire",
        grant="authorization_code",
        code="NhhvTDYsFcdgNLnnLijcl7Ku7bEEeee",
        redirect_uri="https://nicememe.website",
    )
    assert str(request.url) == "https://discord.com/api/oauth2/token"
    assert _basic(request) == ("332269999912132097", "937it3ow87i4ery69876wqire")
    assert _form(request) == {
        "grant_type": "authorization_code",
        "code": "NhhvTDYsFcdgNLnnLijcl7Ku7bEEeee",
        "redirect_uri": "https://nicememe.website",
    }


def test_lark_is_json_with_credentials_and_verifier_in_body() -> None:
    request = build_token_request(
        LARK_OAUTH,
        client_id="cli_a5ca35a685b0x26e",
        client_secret="baBqE5um9LbFGDy3X7LcfxQX1sqpXlwy",
        grant="authorization_code",
        code="a61hb967bd094dge949h79bbexd16dfe",
        redirect_uri=REDIRECT,
        code_verifier="v" * 43,
    )
    assert str(request.url) == "https://open.feishu.cn/open-apis/authen/v2/oauth/token"
    assert "authorization" not in request.headers
    assert _json(request) == {
        "grant_type": "authorization_code",
        "code": "a61hb967bd094dge949h79bbexd16dfe",
        "redirect_uri": REDIRECT,
        "code_verifier": "v" * 43,
        "client_id": "cli_a5ca35a685b0x26e",
        "client_secret": "baBqE5um9LbFGDy3X7LcfxQX1sqpXlwy",
    }


def test_lark_refresh_is_json() -> None:
    request = build_token_request(
        LARK_OAUTH,
        client_id="cli_x",
        client_secret="sec",
        grant="refresh_token",
        refresh_token="r1",
    )
    assert _json(request) == {
        "grant_type": "refresh_token",
        "refresh_token": "r1",
        "client_id": "cli_x",
        "client_secret": "sec",
    }


def test_dingtalk_is_camel_case_json() -> None:
    request = build_token_request(
        DINGTALK_OAUTH,
        client_id="dingxxx",
        client_secret="1234",
        grant="authorization_code",
        code="authcode-1",
        redirect_uri=REDIRECT,  # DingTalk's API has no redirect parameter: dropped
    )
    assert str(request.url) == "https://api.dingtalk.com/v1.0/oauth2/userAccessToken"
    assert "authorization" not in request.headers
    assert _json(request) == {
        "grantType": "authorization_code",
        "code": "authcode-1",
        "clientId": "dingxxx",
        "clientSecret": "1234",
    }
    refresh = build_token_request(
        DINGTALK_OAUTH,
        client_id="dingxxx",
        client_secret="1234",
        grant="refresh_token",
        refresh_token="rt-1",
    )
    assert _json(refresh) == {
        "grantType": "refresh_token",
        "refreshToken": "rt-1",
        "clientId": "dingxxx",
        "clientSecret": "1234",
    }


def test_custom_client_secret_post_puts_credentials_in_the_form() -> None:
    spec = custom_spec(
        authorization_url="https://idp.example.com/a",
        token_url="https://idp.example.com/t",
        token_auth_method="client_secret_post",
    )
    request = build_token_request(
        spec,
        client_id="cid",
        client_secret="sec",
        grant="authorization_code",
        code="c",
        redirect_uri=REDIRECT,
        code_verifier="ver",
    )
    assert "authorization" not in request.headers
    assert _form(request) == {
        "grant_type": "authorization_code",
        "code": "c",
        "redirect_uri": REDIRECT,
        "code_verifier": "ver",
        "client_id": "cid",
        "client_secret": "sec",
    }


def test_basic_credentials_are_form_urlencoded_first() -> None:
    spec = custom_spec(authorization_url="https://i.example/a", token_url="https://i.example/t")
    request = build_token_request(
        spec,
        client_id="id:with colon",
        client_secret="p%ss:w rd+",
        grant="refresh_token",
        refresh_token="r",
    )
    raw = base64.b64decode(request.headers["authorization"].split(" ", 1)[1]).decode()
    assert raw == "id%3Awith+colon:p%25ss%3Aw+rd%2B"  # RFC 6749 §2.3.1
    assert _basic(request) == ("id:with colon", "p%ss:w rd+")


def test_base_url_override_rebases_the_token_endpoint() -> None:
    request = build_token_request(
        SLACK_OAUTH,
        client_id="c",
        client_secret="s",
        grant="refresh_token",
        refresh_token="r",
        base_url="http://127.0.0.1:9000",
    )
    assert str(request.url) == "http://127.0.0.1:9000/api/oauth.v2.access"


def test_pkce_spec_requires_the_verifier() -> None:
    with pytest.raises(ValueError, match="code_verifier"):
        build_token_request(
            LARK_OAUTH,
            client_id="c",
            client_secret="s",
            grant="authorization_code",
            code="x",
            redirect_uri=REDIRECT,
        )


def test_non_pkce_spec_drops_a_verifier() -> None:
    request = build_token_request(
        DISCORD_OAUTH,
        client_id="c",
        client_secret="s",
        grant="authorization_code",
        code="x",
        redirect_uri=REDIRECT,
        code_verifier="v" * 43,
    )
    assert "code_verifier" not in _form(request)


def test_wecom_has_no_token_endpoint() -> None:
    with pytest.raises(ValueError, match="wecom_web_auth"):
        build_token_request(
            WECOM_OAUTH, client_id="c", client_secret="s", grant="authorization_code", code="x"
        )


def test_refresh_requires_refresh_support() -> None:
    spec = replace(DISCORD_OAUTH, refresh_supported=False)
    with pytest.raises(ValueError, match="refresh"):
        build_token_request(
            spec, client_id="c", client_secret="s", grant="refresh_token", refresh_token="r"
        )
