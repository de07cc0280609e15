"""Fuzz targets.  Each exposes ``fuzz_one(data: bytes)``; tests run them under hypothesis."""
