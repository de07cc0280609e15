"""One-pass md5 / sha1 / md5_10m (rest.md §4.3–4.4)."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from qqproto.upload._hashing import MD5_10M_PREFIX, FileHasher, FileHashes, hash_bytes


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_prefix_is_the_documented_10002432_bytes() -> None:
    assert MD5_10M_PREFIX == 10_002_432


def test_empty_input() -> None:
    assert hash_bytes(b"") == FileHashes(
        size=0, md5="d41d8cd98f00b204e9800998ecf8427e",
        sha1="da39a3ee5e6b4b0d3255bfef95601890afd80709",
        md5_10m="d41d8cd98f00b204e9800998ecf8427e")


def test_known_vector() -> None:
    assert hash_bytes(b"abc") == FileHashes(
        size=3, md5="900150983cd24fb0d6963f7d28e17f72",
        sha1="a9993e364706816aba3e25717850c26c9cd0d89d",
        md5_10m="900150983cd24fb0d6963f7d28e17f72")


def test_file_exactly_at_the_prefix_length_uses_the_full_md5() -> None:
    data = bytes(range(256)) * (MD5_10M_PREFIX // 256)
    assert len(data) == MD5_10M_PREFIX
    hashes = hash_bytes(data)
    assert hashes.md5_10m == hashes.md5 == _md5(data)


def test_file_one_byte_over_the_prefix_hashes_only_the_prefix() -> None:
    data = bytes(MD5_10M_PREFIX) + b"\x01"
    hasher = FileHasher()
    # Chunks straddling the boundary in odd places.
    for start in range(0, len(data), 3_333_333):
        hasher.update(data[start:start + 3_333_333])
    hasher.update(b"")  # a chunk fed after the prefix is complete
    hashes = hasher.hashes()
    assert hashes.size == MD5_10M_PREFIX + 1
    assert hashes.md5 == _md5(data)
    assert hashes.md5_10m == _md5(data[:MD5_10M_PREFIX])
    assert hashes.md5_10m != hashes.md5
    assert hashes.sha1 == hashlib.sha1(data).hexdigest()


def test_memoryview_and_bytearray_are_accepted() -> None:
    hasher = FileHasher()
    hasher.update(bytearray(b"ab"))
    hasher.update(memoryview(b"c"))
    assert hasher.size == 3
    assert hasher.hashes() == hash_bytes(b"abc")


@given(data=st.binary(max_size=2048), cuts=st.lists(st.integers(0, 2048), max_size=8))
def test_any_chunking_gives_the_same_digests(data: bytes, cuts: list[int]) -> None:
    hasher = FileHasher()
    previous = 0
    for cut in sorted(c for c in cuts if c <= len(data)):
        hasher.update(data[previous:cut])
        previous = cut
    hasher.update(data[previous:])
    assert hasher.hashes() == FileHashes(size=len(data), md5=_md5(data),
                                         sha1=hashlib.sha1(data).hexdigest(),
                                         md5_10m=_md5(data))
