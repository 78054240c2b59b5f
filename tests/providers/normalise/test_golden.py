"""Golden files: ``golden/<provider>/<case>.input.json`` → ``<case>.expected.json``.

An input holds ``event_type`` (as the verifier yields it), ``payload`` and an optional
``context`` (NormaliseContext fields). The expected file is the NormalisedEvent as JSON.

``UPDATE_GOLDEN=1`` rewrites expected files from the current output and skips the comparison;
review every rewritten file by hand before committing it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from gateway.providers.events import NormaliseContext, NormalisedEvent
from tests.providers.normalise.normalisers import NORMALISERS

GOLDEN = Path(__file__).parent / "golden"
INPUTS = sorted(GOLDEN.glob("*/*.input.json"))
# Minimum number of cases per provider, so a lost or renamed directory cannot go unnoticed.
MINIMUM_CASES = {
    "slack": 3, "discord": 3, "telegram": 3, "lark": 3, "dingtalk": 3, "wecom": 3,
    "github": 1, "standard": 1, "generic": 1,
}  # fmt: skip


def _case_id(path: Path) -> str:
    return f"{path.parent.name}/{path.name.removesuffix('.input.json')}"


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("input_path", INPUTS, ids=_case_id)
def test_golden(input_path: Path) -> None:
    case = _load(input_path)
    normaliser = NORMALISERS[input_path.parent.name]
    context = NormaliseContext(**case.get("context", {}))

    event = normaliser.normalise(case["event_type"], case["payload"], context)
    # The guarded entry point must not be hiding an exception behind its fallback.
    assert normaliser.normalise_payload(case["event_type"], case["payload"], context) == event

    actual = event.model_dump(mode="json")
    expected_path = input_path.with_name(input_path.name.replace(".input.", ".expected."))
    if os.environ.get("UPDATE_GOLDEN") == "1":
        text = json.dumps(actual, indent=2, ensure_ascii=False) + "\n"
        expected_path.write_text(text, encoding="utf-8")
        pytest.skip(f"rewrote {expected_path.name}: review it before committing")
    assert expected_path.exists(), f"missing {expected_path.name} (run with UPDATE_GOLDEN=1)"
    expected = _load(expected_path)
    assert actual == expected
    # The expected file is itself a valid event (keeps hand edits honest).
    assert NormalisedEvent.model_validate(expected) == event


def test_every_provider_has_golden_cases() -> None:
    counts = {provider: 0 for provider in NORMALISERS}
    for path in INPUTS:
        counts[path.parent.name] += 1
    assert {p: n for p, n in counts.items() if n < MINIMUM_CASES[p]} == {}


def test_no_orphaned_expected_files() -> None:
    inputs = {path.with_name(path.name.replace(".input.", ".expected.")) for path in INPUTS}
    assert set(GOLDEN.glob("*/*.expected.json")) <= inputs
