"""The button data of approval and confirmation buttons (rest.md §6.4): the seed's two
formats parse and round-trip exactly, whatever the key, and nothing else parses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qqproto.approvals import (
    BUTTON_DATA_BUDGET,
    ApprovalData,
    ConfirmationData,
    Decision,
    fits_budget,
    parse_button_data,
)

TAPPABLE = [Decision.ALLOW_ONCE, Decision.ALLOW_ALWAYS, Decision.DENY]
keys = st.text(min_size=1)


@pytest.mark.parametrize(("data", "parsed"), [
    # rest.md §6.4 item 1: the session key may contain colons; the decision is last.
    ("approve:agent:main:qqbot:c2c:OPENID:allow-once",
     ApprovalData("agent:main:qqbot:c2c:OPENID", Decision.ALLOW_ONCE)),
    ("approve:s1:allow-always", ApprovalData("s1", Decision.ALLOW_ALWAYS)),
    ("approve:s1:deny", ApprovalData("s1", Decision.DENY)),
    # The conformance corpus's hermes payload (interaction-hermes-minimal).
    ("approve:agent:main:qqbot:c2c:u:deny", ApprovalData("agent:main:qqbot:c2c:u", Decision.DENY)),
    ("approve::::deny", ApprovalData("::", Decision.DENY)),
    ("update_prompt:y", ConfirmationData(None, True)),
    ("update_prompt:n", ConfirmationData(None, False)),
    ("update_prompt:q1:y", ConfirmationData("q1", True)),
    ("update_prompt:a:b:n", ConfirmationData("a:b", False)),
])
def test_the_seed_formats_parse_and_encode_back_exactly(data: str, parsed: object) -> None:
    assert parse_button_data(data) == parsed
    assert isinstance(parsed, ApprovalData | ConfirmationData)
    assert parsed.encode() == data


@pytest.mark.parametrize("data", [
    None, "", "approve:", "approve:s1", "approve::deny", "approve:s1:allow-session",
    "approve:s1:timeout", "approve:s1:DENY", "approve:s1:deny\n", "approve:s1:deny ",
    " approve:s1:deny", "APPROVE:s1:deny", "update_prompt:", "update_prompt:Y",
    "update_prompt:yes", "update_prompt::y", "update_prompt:y\n", "update_prompt:q1:",
    "cl:abc:1", "回调按钮", "approve:\ud800:deny", "update_prompt:\udc00:y",
])
def test_anything_else_is_not_ours(data: str | None) -> None:
    assert parse_button_data(data) is None


@given(key=keys, decision=st.sampled_from(TAPPABLE))
def test_any_key_round_trips_through_approval_data(key: str, decision: Decision) -> None:
    data = ApprovalData(key, decision).encode()
    assert data == f"approve:{key}:{decision.value}"
    assert parse_button_data(data) == ApprovalData(key, decision)


@given(key=st.none() | keys, yes=st.booleans())
def test_any_key_round_trips_through_confirmation_data(key: str | None, yes: bool) -> None:
    data = ConfirmationData(key, yes).encode()
    assert parse_button_data(data) == ConfirmationData(key, yes)


@given(data=st.text())
def test_parsing_never_raises_and_what_parses_encodes_back(data: str) -> None:
    parsed = parse_button_data(data)
    if parsed is not None:
        assert parsed.encode() == data


def test_keys_must_be_non_empty_encodable_strings_and_timeout_is_no_button() -> None:
    for bad in ("", "\ud800"):
        with pytest.raises(ValueError, match="key"):
            ApprovalData(bad, Decision.DENY)
        with pytest.raises(ValueError, match="key"):
            ConfirmationData(bad, True)
    with pytest.raises(ValueError, match="TIMEOUT is not a button"):
        ApprovalData("k", Decision.TIMEOUT)


def test_the_budget_counts_utf8_bytes() -> None:
    assert BUTTON_DATA_BUDGET == 64  # rest.md §6.4 item 6
    assert fits_budget("x" * 64) and not fits_budget("x" * 65)
    assert fits_budget("好" * 21) and not fits_budget("好" * 22)  # 3 bytes each


def test_decisions_say_whether_they_allow() -> None:
    assert [d.allowed for d in Decision] == [True, True, False, False]
