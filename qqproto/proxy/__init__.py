"""Proxies for the gateway and REST: which proxy a URL uses (:func:`resolve_proxy`,
``HTTPS_PROXY``/``WSS_PROXY``/``ALL_PROXY`` with ``NO_PROXY``) and the tunnels through
it (HTTP CONNECT with h11, SOCKS5 with socksio), both sans-IO.
"""

from __future__ import annotations

from ._config import DIRECT, Direct, ProxyConfig, ProxyScheme, resolve_proxy
from ._tunnels import ConnectTunnel, Socks5Tunnel, Tunnel, TunnelState, open_tunnel

__all__ = [
    "DIRECT",
    "ConnectTunnel",
    "Direct",
    "ProxyConfig",
    "ProxyScheme",
    "Socks5Tunnel",
    "Tunnel",
    "TunnelState",
    "open_tunnel",
    "resolve_proxy",
]
