"""Webhook key derivation, signing and verification (gateway.md §9.2–§9.4, §9.6)."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qqproto._secret import Secret
from qqproto.webhook._signing import (
    SIGNATURE_HEX_LENGTH,
    WebhookKey,
    _derive_seed,
    parse_signature_hex,
)

# gateway.md §9.6, DOC event-emit.md worked vector (op 13 validation).
DOC_SECRET = "DG5g3B4j9X2KOErG"
DOC_BODY = b'{"d":{"plain_token":"Arq0D5A61EgUu4OxUvOp","event_ts":"1725442341"},"op":13}'
DOC_TOKEN = "Arq0D5A61EgUu4OxUvOp"
DOC_TS = "1725442341"
DOC_SIGNATURE = (
    "87befc99c42c651b3aac0278e71ada338433ae26fcb24307bdc5ad38c1adc2d0"
    "1bcfcadc0842edac85e85205028a1132afe09280305f13aa6909ffc2d652c706"
)
DOC_PUBLIC_KEY = "8b28ded5630f9051c205dd04c6ec56ad0b08b8812b2fe30ee9aece0ab41926f3"

# gateway.md §9.6, the Go SDK's vector: the body holds Chinese text, so the exact UTF-8
# bytes matter (哦一下 = e5 93 a6 e4 b8 80 e4 b8 8b).
GO_SECRET = "123456abcdef"
GO_TS = "1728981195"
GO_BODY = (
    '{"id":"ROBOT1.0_veoihSEXDc8Q.g-6eLpNIa11bH8MisOjn-m-LKxCPntMk6exUXgcWCGpVO7L2QKTNZzjZzFFD'
    'SbiOFcqAPWyVA!!","content":"哦一下","timestamp":"2024-10-15T16:33:15+08:00",'
    '"author":{"id":"675860273","user_openid":"675860273"}}'
).encode()
GO_SIGNATURE = (
    "e949b5b94ef4103df903fb031d1d16e358db3db83e79e117edd404c8508be3ce"
    "8a76d7bad1bed353194c126a1a5915b4ad8b5288c1191cc53a12acffccd82004"
)

# gateway.md §9.6, second DOC demo (sign.md).
SIGN_DEMO_SECRET = "naOC0ocQE3shWLAfffVLB1rhYPG7"
SIGN_DEMO_PUBLIC_KEY = bytes([
    215, 195, 98, 254, 120, 174, 248, 31, 242, 50, 135, 180, 147, 98, 139, 93,
    176, 42, 60, 79, 227, 11, 33, 94, 77, 25, 96, 155, 93, 118, 103, 58,
])
SIGN_DEMO_TS = "1725442341"
SIGN_DEMO_BODY_AS_PRINTED = b'{ "op": 0,"d": {}, "t": "GATEWAY_EVENT_NAME"}'
SIGN_DEMO_SIGNATURE = (
    "865ad13a61752ca65e26bde6676459cd36cf1be609375b37bd62af366e1dc25a"
    "8dc789ba7f14e017ada3d554c671a911bfdf075ba54835b23391d509579ed002"
)


@pytest.fixture(scope="module")
def doc_key() -> WebhookKey:
    return WebhookKey(DOC_SECRET)


@pytest.fixture(scope="module")
def go_key() -> WebhookKey:
    return WebhookKey(GO_SECRET)


# --- key derivation (§9.2) ---------------------------------------------------------------

def test_short_secret_is_repeated_to_32_bytes() -> None:
    assert _derive_seed(Secret(DOC_SECRET)) == b"DG5g3B4j9X2KOErGDG5g3B4j9X2KOErG"


def test_secret_is_repeated_cyclically_then_cut_to_32_bytes() -> None:
    assert _derive_seed(Secret(SIGN_DEMO_SECRET)) == b"naOC0ocQE3shWLAfffVLB1rhYPG7naOC"
    assert _derive_seed(Secret("abc")) == b"abcabcabcabcabcabcabcabcabcabcab"
    assert _derive_seed(Secret("x")) == b"x" * 32


def test_long_secret_is_truncated_to_32_bytes() -> None:
    secret = "0123456789abcdefghijklmnopqrstuvwxyz"
    assert _derive_seed(Secret(secret)) == secret[:32].encode()


def test_secret_is_repeated_as_utf8_bytes_not_characters() -> None:
    # "密钥" is 6 UTF-8 bytes; the seed repeats bytes and may split a code point.
    raw = "密钥".encode()
    assert _derive_seed(Secret("密钥")) == (raw * 6)[:32]


@pytest.mark.parametrize("secret", ["", Secret("")])
def test_empty_secret_cannot_derive_a_key(secret: str | Secret) -> None:
    with pytest.raises(ValueError, match="empty"):
        WebhookKey(secret)


def test_doc_vector_public_key_matches(doc_key: WebhookKey) -> None:
    assert doc_key.public_key_bytes().hex() == DOC_PUBLIC_KEY


def test_second_doc_demo_public_key_matches() -> None:
    assert WebhookKey(SIGN_DEMO_SECRET).public_key_bytes() == SIGN_DEMO_PUBLIC_KEY


def test_key_accepts_a_secret_object_and_a_plain_string_alike() -> None:
    a, b = WebhookKey(Secret(GO_SECRET)), WebhookKey(GO_SECRET)
    assert a.public_key_bytes() == b.public_key_bytes()


def test_key_repr_and_str_show_no_key_material(doc_key: WebhookKey) -> None:
    seed = _derive_seed(Secret(DOC_SECRET))
    for text in (repr(doc_key), str(doc_key), f"{doc_key}"):
        assert DOC_SECRET not in text
        assert DOC_PUBLIC_KEY not in text
        assert seed.hex() not in text
        assert seed.decode() not in text
    assert repr(doc_key) == "WebhookKey(<redacted>)"


def test_key_cannot_be_pickled_by_accident(doc_key: WebhookKey) -> None:
    with pytest.raises(TypeError):
        pickle.dumps(doc_key)


# --- signing (§9.4, §9.6) -----------------------------------------------------------------

def test_doc_vector_signature_is_reproduced_byte_for_byte(doc_key: WebhookKey) -> None:
    assert doc_key.sign(DOC_TS, DOC_TOKEN.encode()) == DOC_SIGNATURE


def test_timestamp_may_be_str_or_bytes(doc_key: WebhookKey) -> None:
    assert doc_key.sign(DOC_TS.encode(), DOC_TOKEN.encode()) == DOC_SIGNATURE


def test_signature_is_128_lowercase_hex_digits(go_key: WebhookKey) -> None:
    sig = go_key.sign("1", b"")
    assert len(sig) == SIGNATURE_HEX_LENGTH == 128
    assert sig == sig.lower()
    assert set(sig) <= set("0123456789abcdef")


def test_validation_response_is_the_exact_doc_answer(doc_key: WebhookKey) -> None:
    assert doc_key.validation_response(DOC_TOKEN, DOC_TS) == (
        b'{"plain_token":"Arq0D5A61EgUu4OxUvOp","signature":"' + DOC_SIGNATURE.encode() + b'"}'
    )


def test_validation_response_escapes_the_token_as_json(doc_key: WebhookKey) -> None:
    body = doc_key.validation_response('a"b\\c令', "7")
    sig = doc_key.sign("7", 'a"b\\c令'.encode())
    assert body == ('{"plain_token":"a\\"b\\\\c令","signature":"' + sig + '"}').encode()


def test_sign_refuses_a_non_text_timestamp(doc_key: WebhookKey) -> None:
    with pytest.raises(TypeError, match="timestamp"):
        doc_key.sign(1725442341, b"")  # type: ignore[arg-type]


# --- verification (§9.3, §9.6) ------------------------------------------------------------

def test_go_sdk_vector_verifies(go_key: WebhookKey) -> None:
    assert go_key.verify(GO_TS, GO_BODY, GO_SIGNATURE)


def test_go_sdk_vector_is_reproduced_by_signing(go_key: WebhookKey) -> None:
    assert go_key.sign(GO_TS, GO_BODY) == GO_SIGNATURE


def test_go_sdk_vector_body_holds_the_exact_utf8_bytes() -> None:
    assert b'"content":"\xe5\x93\xa6\xe4\xb8\x80\xe4\xb8\x8b"' in GO_BODY
    # 216 characters, three of them 3-byte CJK: 222 bytes.
    assert len(GO_BODY.decode()) == 216
    assert len(GO_BODY) == 222


def test_doc_vector_verifies(doc_key: WebhookKey) -> None:
    assert doc_key.verify(DOC_TS, DOC_TOKEN.encode(), DOC_SIGNATURE)


def test_sign_demo_event_does_not_verify_against_the_body_as_printed() -> None:
    # The DOC sign.md demo prints the body on one line; the signature was not made over
    # those bytes, so a conforming verifier must refuse it.  (gateway.md §9.6)
    key = WebhookKey(SIGN_DEMO_SECRET)
    assert not key.verify(SIGN_DEMO_TS, SIGN_DEMO_BODY_AS_PRINTED, SIGN_DEMO_SIGNATURE)
    assert not key.verify(SIGN_DEMO_TS, b'{"op":0,"d":{},"t":"GATEWAY_EVENT_NAME"}',
                          SIGN_DEMO_SIGNATURE)


def test_sign_demo_signature_was_made_over_the_indented_body() -> None:
    # Why the demo fails as printed: the signed body is the same JSON pretty-printed with
    # newlines and a two-space indent.  Whitespace is part of the signed bytes.
    key = WebhookKey(SIGN_DEMO_SECRET)
    indented = b'{\n  "op": 0,\n  "d": {},\n  "t": "GATEWAY_EVENT_NAME"\n}'
    assert key.verify(SIGN_DEMO_TS, indented, SIGN_DEMO_SIGNATURE)


def test_uppercase_and_mixed_case_hex_signatures_are_accepted(go_key: WebhookKey) -> None:
    assert go_key.verify(GO_TS, GO_BODY, GO_SIGNATURE.upper())
    mixed = "".join(c.upper() if i % 2 else c for i, c in enumerate(GO_SIGNATURE))
    assert go_key.verify(GO_TS, GO_BODY, mixed)
    assert go_key.verify(GO_TS, GO_BODY, GO_SIGNATURE.encode())


@pytest.mark.parametrize("bad", [
    GO_SIGNATURE[:-1],                      # 127 digits
    GO_SIGNATURE + "0",                     # 129 digits
    GO_SIGNATURE[:-2],                      # 63 bytes
    GO_SIGNATURE + "00",                    # 65 bytes
    "",
    " " + GO_SIGNATURE[1:],                 # whitespace is not skipped
    GO_SIGNATURE[:-1] + " ",
    GO_SIGNATURE[:64] + " " + GO_SIGNATURE[65:],
    "0x" + GO_SIGNATURE[2:],
    GO_SIGNATURE[:-1] + "g",
    GO_SIGNATURE[:-1] + "４",               # a full-width digit is not hex
    GO_SIGNATURE[:-1] + "é",
])
def test_malformed_signature_header_is_refused_without_exception(
        go_key: WebhookKey, bad: str) -> None:
    assert parse_signature_hex(bad) is None
    assert parse_signature_hex(bad.encode("utf-8")) is None
    assert go_key.verify(GO_TS, GO_BODY, bad) is False


def test_parse_signature_hex_decodes_64_bytes() -> None:
    assert parse_signature_hex(GO_SIGNATURE) == bytes.fromhex(GO_SIGNATURE)
    assert parse_signature_hex(GO_SIGNATURE.upper().encode()) == bytes.fromhex(GO_SIGNATURE)


@pytest.mark.parametrize("high_bits", [0x20, 0x40, 0x80, 0xE0])
def test_signature_with_high_bits_in_the_last_byte_is_refused(
        go_key: WebhookKey, high_bits: int) -> None:
    # §9.3: sig[63] & 0xE0 != 0 is a non-canonical S (malleable signature).
    raw = bytearray.fromhex(GO_SIGNATURE)
    raw[63] |= high_bits
    assert parse_signature_hex(raw.hex()) is None
    assert not go_key.verify(GO_TS, GO_BODY, raw.hex())


def test_last_byte_without_high_bits_passes_the_format_check() -> None:
    raw = bytearray(64)
    raw[63] = 0x1F
    assert parse_signature_hex(raw.hex()) == bytes(raw)


def test_signature_from_another_secret_does_not_verify(go_key: WebhookKey) -> None:
    other = WebhookKey("123456abcdeg").sign(GO_TS, GO_BODY)
    assert not go_key.verify(GO_TS, GO_BODY, other)


def test_verify_refuses_non_text_signature(go_key: WebhookKey) -> None:
    assert go_key.verify(GO_TS, GO_BODY, 12345) is False  # type: ignore[arg-type]


# --- properties ---------------------------------------------------------------------------

def _replace_byte(data: bytes, index: int, delta: int) -> bytes:
    i = index % len(data)
    return data[:i] + bytes([(data[i] + delta) % 256]) + data[i + 1:]


@given(index=st.integers(min_value=0), delta=st.integers(min_value=1, max_value=255))
def test_any_single_byte_change_of_the_body_is_rejected(index: int, delta: int) -> None:
    key = WebhookKey(GO_SECRET)
    assert not key.verify(GO_TS, _replace_byte(GO_BODY, index, delta), GO_SIGNATURE)


@given(index=st.integers(min_value=0), delta=st.integers(min_value=1, max_value=255))
def test_any_single_byte_change_of_the_timestamp_is_rejected(index: int, delta: int) -> None:
    key = WebhookKey(GO_SECRET)
    assert not key.verify(_replace_byte(GO_TS.encode(), index, delta), GO_BODY, GO_SIGNATURE)


@given(index=st.integers(min_value=0, max_value=63), mask=st.integers(min_value=1, max_value=255))
def test_any_single_byte_change_of_the_signature_is_rejected(index: int, mask: int) -> None:
    key = WebhookKey(GO_SECRET)
    raw = bytearray.fromhex(GO_SIGNATURE)
    raw[index] ^= mask
    assert not key.verify(GO_TS, GO_BODY, raw.hex())


@given(index=st.integers(min_value=0), extra=st.binary(min_size=1, max_size=3))
def test_inserting_bytes_into_the_body_is_rejected(index: int, extra: bytes) -> None:
    key = WebhookKey(GO_SECRET)
    i = index % (len(GO_BODY) + 1)
    assert not key.verify(GO_TS, GO_BODY[:i] + extra + GO_BODY[i:], GO_SIGNATURE)


@given(secret=st.text(min_size=1, max_size=40), timestamp=st.text(max_size=12),
       body=st.binary(max_size=200))
def test_a_fresh_signature_always_verifies(secret: str, timestamp: str, body: bytes) -> None:
    key = WebhookKey(secret)
    signature = key.sign(timestamp, body)
    assert key.verify(timestamp, body, signature)
    assert parse_signature_hex(signature) is not None


@given(secret=st.text(min_size=1, max_size=40))
def test_seed_is_always_32_bytes_of_the_repeated_secret(secret: str) -> None:
    raw = secret.encode("utf-8")
    seed = _derive_seed(Secret(secret))
    assert len(seed) == 32
    assert all(seed[i] == raw[i % len(raw)] for i in range(32))
