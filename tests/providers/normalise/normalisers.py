"""The normalisers under test, keyed by provider id (explicit: no dotted-path lookups)."""

from __future__ import annotations

from typing import Final

from gateway.providers.dingtalk.normalise import NORMALISER as DINGTALK
from gateway.providers.discord.normalise import NORMALISER as DISCORD
from gateway.providers.events import PayloadNormaliser
from gateway.providers.generic.normalise import NORMALISER as GENERIC
from gateway.providers.github.normalise import NORMALISER as GITHUB
from gateway.providers.lark.normalise import NORMALISER as LARK
from gateway.providers.slack.normalise import NORMALISER as SLACK
from gateway.providers.standard.normalise import NORMALISER as STANDARD
from gateway.providers.telegram.normalise import NORMALISER as TELEGRAM
from gateway.providers.wecom.normalise import NORMALISER as WECOM

NORMALISERS: Final[dict[str, PayloadNormaliser]] = {
    normaliser.provider: normaliser
    for normaliser in (SLACK, DISCORD, TELEGRAM, LARK, DINGTALK, WECOM, GITHUB, STANDARD, GENERIC)
}
