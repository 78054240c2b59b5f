"""``custom_spec`` (the ``POST /v1/providers`` body) and OAuthSpec invariants."""

from __future__ import annotations

import pytest

from gateway.kit.errors import ValidationFailed
from gateway.providers.oauth import OAuthSpec, custom_spec

AUTH, TOKEN = "https://idp.example.com/authorize", "https://idp.example.com/token"


def test_defaults_are_rfc6749_with_pkce_and_basic_auth() -> None:
    spec = custom_spec(authorization_url=AUTH, token_url=TOKEN, scopes=["openid", "email"])
    assert spec.pkce is True
    assert spec.token_auth_method == "client_secret_basic"
    assert spec.token_body_format == "form"
    assert spec.default_scopes == ("openid", "email")
    assert spec.revocation_style == "none"
    assert spec.revocation_url is None
    assert spec.token_parser is None


def test_revocation_url_enables_rfc7009() -> None:
    spec = custom_spec(authorization_url=AUTH, token_url=TOKEN, revocation_url=f"{TOKEN}/revoke")
    assert spec.revocation_style == "rfc7009"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://idp.example.com/token",
        "/token",
        "https:///token",
        "https://user:pw@idp.example.com/token",
        "https://idp.example.com/token#frag",
    ],
)
def test_bad_endpoint_urls_are_validation_errors(url: str) -> None:
    with pytest.raises(ValidationFailed, match="token_url"):
        custom_spec(authorization_url=AUTH, token_url=url)


def test_extra_params_may_not_override_protocol_parameters() -> None:
    with pytest.raises(ValidationFailed, match="redirect_uri"):
        custom_spec(
            authorization_url=AUTH, token_url=TOKEN, extra_authorize_params={"redirect_uri": "x"}
        )


@pytest.mark.parametrize("scopes", [["ok", ""], ["a b"], ["a,b"]])
def test_scopes_must_not_contain_separators(scopes: list[str]) -> None:
    with pytest.raises(ValidationFailed, match="scopes"):
        custom_spec(authorization_url=AUTH, token_url=TOKEN, scopes=scopes, scope_separator=",")


@pytest.mark.parametrize("separator", ["", ", "])
def test_scope_separator_is_one_character(separator: str) -> None:
    with pytest.raises(ValidationFailed, match="scope_separator"):
        custom_spec(authorization_url=AUTH, token_url=TOKEN, scope_separator=separator)


def test_extra_params_are_frozen_and_spec_is_hashable() -> None:
    params = {"access_type": "offline"}
    spec = custom_spec(authorization_url=AUTH, token_url=TOKEN, extra_authorize_params=params)
    params["access_type"] = "online"
    assert spec.extra_authorize_params["access_type"] == "offline"
    with pytest.raises(TypeError):
        spec.extra_authorize_params["x"] = "y"  # type: ignore[index]
    assert isinstance(hash(spec), int)  # usable as a dict key / in sets


def test_camel_case_body_requires_body_credentials() -> None:
    with pytest.raises(ValueError, match="json_camel"):
        OAuthSpec(authorization_url=AUTH, token_url=TOKEN, token_body_format="json_camel")


def test_revocation_style_and_url_must_agree() -> None:
    assert OAuthSpec(authorization_url=AUTH, token_url=TOKEN).revocation_style == "none"
    with pytest.raises(ValueError, match="revocation"):
        OAuthSpec(authorization_url=AUTH, token_url=TOKEN, revocation_style="rfc7009")
    with pytest.raises(ValueError, match="revocation"):
        OAuthSpec(authorization_url=AUTH, token_url=TOKEN, revocation_url=f"{TOKEN}/revoke")
