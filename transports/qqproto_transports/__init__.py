"""Drivers for qqproto: asyncio, trio and threads, plus the CLI."""
