"""Shared rules of the models layer: timestamps, URLs, ids, integers, attachments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from qqproto.errors import Invalid
from qqproto.models._common import (
    Attachment,
    as_id,
    expect_object,
    kind,
    normalise_url,
    opt_bool,
    opt_id,
    opt_int,
    opt_list,
    opt_object,
    opt_str,
    opt_timestamp,
    parse_attachments,
    parse_timestamp,
    req_id,
    req_object,
)

CST = timezone(timedelta(hours=8))

# --- timestamps (gateway.md §6.5 "Timestamp formats") ------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    # RFC 3339 with the platform's +08:00 offset keeps the offset.
    ("2023-11-06T13:37:18+08:00", datetime(2023, 11, 6, 13, 37, 18, tzinfo=CST)),
    ("2025-01-02T10:00:00.250+08:00",
     datetime(2025, 1, 2, 10, 0, 0, 250000, tzinfo=CST)),
    ("2023-11-06T05:37:18Z", datetime(2023, 11, 6, 5, 37, 18, tzinfo=UTC)),
    ("  2023-11-06T13:37:18+08:00\n", datetime(2023, 11, 6, 13, 37, 18, tzinfo=CST)),
    # Integer Unix seconds (management events).
    (1699240365, datetime(2023, 11, 6, 3, 12, 45, tzinfo=UTC)),
    (1699240365.5, datetime(2023, 11, 6, 3, 12, 45, 500000, tzinfo=UTC)),
    # Numeric strings, seconds and milliseconds (the reference SDK's parser).
    ("1699240365", datetime(2023, 11, 6, 3, 12, 45, tzinfo=UTC)),
    ("1699240365.25", datetime(2023, 11, 6, 3, 12, 45, 250000, tzinfo=UTC)),
    ("1699240365123", datetime(2023, 11, 6, 3, 12, 45, 123000, tzinfo=UTC)),
    # Millisecond numbers.
    (1699240365123, datetime(2023, 11, 6, 3, 12, 45, 123000, tzinfo=UTC)),
    (0, datetime(1970, 1, 1, tzinfo=UTC)),
])
def test_every_documented_timestamp_form_parses_to_an_aware_datetime(
    value: object, expected: datetime
) -> None:
    parsed = parse_timestamp(value)
    assert parsed == expected
    assert parsed is not None and parsed.utcoffset() == expected.utcoffset()


def test_a_second_count_just_below_the_millisecond_threshold_is_still_seconds() -> None:
    # 99_999_999_999 s is in the year 5138: far-future seconds, not 1973 milliseconds.
    assert parse_timestamp(99_999_999_999) == (
        datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=99_999_999_999))
    assert parse_timestamp(100_000_000_000) == datetime(1973, 3, 3, 9, 46, 40, tzinfo=UTC)


@pytest.mark.parametrize("value", [
    None, True, False, "", "   ", "yesterday", "2023-11-06T13:37:18",  # no offset
    "2023-11-06", "2023-13-45T00:00:00+08:00", "1" * 30, "12:30", float("nan"),
    float("inf"), -float("inf"), 10**30, -(10**30), "9" * 20, "1e5", [], {}, b"1",
    "x" * 100,
])
def test_unparseable_timestamps_give_none_instead_of_failing(value: object) -> None:
    assert parse_timestamp(value) is None


def test_opt_timestamp_keeps_the_raw_scalar_even_when_it_cannot_be_parsed() -> None:
    assert opt_timestamp({"t": "soon"}, "t", "d") == ("soon", None)
    assert opt_timestamp({"t": 1699240365}, "t", "d") == (
        1699240365, datetime(2023, 11, 6, 3, 12, 45, tzinfo=UTC))
    assert opt_timestamp({}, "t", "d") == (None, None)
    assert opt_timestamp({"t": None}, "t", "d") == (None, None)


def test_opt_timestamp_rejects_a_container() -> None:
    with pytest.raises(Invalid, match=r"^d\.t: expected a timestamp, got array$"):
        opt_timestamp({"t": [1699240365]}, "t", "d")


# --- URLs (rest.md §10.2) ----------------------------------------------------------------


@pytest.mark.parametrize(("url", "expected"), [
    ("//multimedia.nt.qq.com.cn/download?appid=1407&fileid=abc",
     "https://multimedia.nt.qq.com.cn/download?appid=1407&fileid=abc"),
    ("gchat.qpic.cn/qmeetpic/0/0-0-ABC/0", "https://gchat.qpic.cn/qmeetpic/0/0-0-ABC/0"),
    ("  https://gchat.qpic.cn/x.jpg \n", "https://gchat.qpic.cn/x.jpg"),
    ("http://example.test/a", "http://example.test/a"),
    ("HTTPS://EXAMPLE.TEST/a", "HTTPS://EXAMPLE.TEST/a"),
    (" //host/x ", "https://host/x"),
    ("/relative/path", "/relative/path"),
    ("", ""),
    ("   ", ""),
    ("host:8080/x", "https://host:8080/x"),
])
def test_media_urls_get_an_https_scheme_when_they_lack_one(url: str, expected: str) -> None:
    assert normalise_url(url) == expected


# --- ids, integers, booleans, containers -------------------------------------------------


def test_ids_accept_strings_and_integral_numbers_as_decimal_strings() -> None:
    d = {"a": "E4F4AE", "b": 144115218678984471, "c": 42.0, "e": ""}
    assert opt_id(d, "a", "d") == "E4F4AE"
    assert opt_id(d, "b", "d") == "144115218678984471"
    assert opt_id(d, "c", "d") == "42"
    assert opt_id(d, "e", "d") == ""
    assert opt_id(d, "missing", "d") is None
    assert req_id(d, "b", "d") == "144115218678984471"


@pytest.mark.parametrize(("value", "got"), [
    (True, "boolean"), (1.5, "number"), (2.0**60, "number"), ([], "array"),
    ({}, "object"), pytest.param(10**5000, "number", id="int-too-long-for-str"),
])
def test_ids_reject_values_that_cannot_be_an_id(value: object, got: str) -> None:
    with pytest.raises(Invalid, match=rf"^d\.id: expected a string id, got {got}$"):
        opt_id({"id": value}, "id", "d")


def test_a_missing_required_id_names_the_path() -> None:
    with pytest.raises(Invalid, match=r"^d\.author\.id: missing$"):
        req_id({"id": None}, "id", "d.author")


def test_as_id_checks_a_bare_value() -> None:
    assert as_id(7, "d.roles[0]") == "7"
    with pytest.raises(Invalid, match=r"^d\.roles\[1\]: expected a string id, got null$"):
        as_id(None, "d.roles[1]")


def test_integers_accept_numbers_integral_floats_and_decimal_strings() -> None:
    d = {"a": 103, "b": 103.0, "c": " 103 ", "e": "-2", "f": None}
    assert [opt_int(d, k, "d") for k in "abcef"] == [103, 103, 103, -2, None]


@pytest.mark.parametrize("value", [True, 1.5, "1.5", "12a", "", [], {}, "1" * 40])
def test_integers_reject_everything_else(value: object) -> None:
    with pytest.raises(Invalid, match=r"^d\.n: expected an integer, got "):
        opt_int({"n": value}, "n", "d")


def test_booleans_must_be_json_booleans() -> None:
    assert opt_bool({"b": True}, "b", "d") is True
    assert opt_bool({}, "b", "d") is None
    with pytest.raises(Invalid, match=r"^d\.b: expected a boolean, got number$"):
        opt_bool({"b": 1}, "b", "d")


def test_strings_must_be_strings() -> None:
    assert opt_str({"s": "hi"}, "s", "d") == "hi"
    with pytest.raises(Invalid, match=r"^d\.s: expected a string, got object$"):
        opt_str({"s": {}}, "s", "d")


def test_containers_are_checked_by_kind() -> None:
    assert opt_object({"o": {"k": 1}}, "o", "d") == {"k": 1}
    assert opt_object({"o": None}, "o", "d") is None
    assert opt_list({"l": [1]}, "l", "d") == [1]
    assert req_object({"o": {}}, "o", "d") == {}
    with pytest.raises(Invalid, match=r"^d\.o: expected an object, got array$"):
        opt_object({"o": []}, "o", "d")
    with pytest.raises(Invalid, match=r"^d\.l: expected an array, got object$"):
        opt_list({"l": {}}, "l", "d")
    with pytest.raises(Invalid, match=r"^d\.o: missing$"):
        req_object({}, "o", "d")
    with pytest.raises(Invalid, match=r"^d\.o: expected an object, got string$"):
        req_object({"o": "x"}, "o", "d")
    with pytest.raises(Invalid, match=r"^d: expected an object, got null$"):
        expect_object(None, "d")


def test_kind_names_json_types_and_falls_back_to_the_python_name() -> None:
    assert [kind(v) for v in (None, False, 1, 1.0, "", [], (), {})] == [
        "null", "boolean", "number", "number", "string", "array", "array", "object"]
    assert kind(b"") == "bytes"


# --- attachments (gateway.md §6.4) -------------------------------------------------------


def test_voice_attachment_keeps_every_field_and_normalises_both_urls() -> None:
    d = {"attachments": [{
        "content_type": "voice",
        "filename": "1A2B.amr",
        "url": "//multimedia.nt.qq.com.cn/download?fileid=v1",
        "size": "5120",
        "voice_wav_url": " multimedia.nt.qq.com.cn/wav?fileid=v1 ",
        "asr_refer_text": "你好",
    }]}
    assert parse_attachments(d, "d") == (Attachment(
        content_type="voice",
        filename="1A2B.amr",
        url="https://multimedia.nt.qq.com.cn/download?fileid=v1",
        size=5120,
        voice_wav_url="https://multimedia.nt.qq.com.cn/wav?fileid=v1",
        asr_refer_text="你好",
    ),)


def test_image_attachment_with_dimensions_and_guild_id() -> None:
    d = {"attachments": [{"content_type": "image/png", "url": "gchat.qpic.cn/a.png",
                          "width": 640, "height": 480, "size": 20480, "id": 998}]}
    (image,) = parse_attachments(d, "d")
    assert image == Attachment(content_type="image/png", url="https://gchat.qpic.cn/a.png",
                               width=640, height=480, size=20480, id="998")
    assert image.is_image and not image.is_voice


def test_attachment_kind_properties() -> None:
    assert Attachment(content_type="audio/silk").is_voice
    assert Attachment(content_type="voice").is_voice
    assert not Attachment(content_type="file").is_image


def test_missing_or_null_attachments_are_an_empty_tuple() -> None:
    assert parse_attachments({}, "d") == ()
    assert parse_attachments({"attachments": None}, "d") == ()
    assert parse_attachments({"attachments": []}, "d") == ()
    assert parse_attachments({"attachments": [{}]}, "d") == (Attachment(),)


def test_a_non_object_attachment_is_an_error_with_its_index() -> None:
    with pytest.raises(Invalid, match=r"^d\.attachments\[1\]: expected an object, got string$"):
        parse_attachments({"attachments": [{}, "x"]}, "d")
    with pytest.raises(Invalid, match=r"^d\.attachments\[0\]\.size: expected an integer"):
        parse_attachments({"attachments": [{"size": "big"}]}, "d")
    with pytest.raises(Invalid, match=r"^d\.attachments: expected an array, got object$"):
        parse_attachments({"attachments": {"url": "x"}}, "d")
