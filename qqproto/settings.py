"""A bot's configuration as one immutable value.

:class:`Settings` is pure data: no sockets, no TLS contexts, no environment reads.  The
one place that reads the environment is :meth:`Settings.from_env`, and it reads only
the mapping it is given (the application passes the process environment), so tests and
side-by-side bots never share hidden state.  I/O objects (a TLS context for a private
CA, the environment used for proxy variables) are arguments of the driver's ``Bot``, not
settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ._endpoints import Endpoints
from ._limits import Limits
from ._secret import Secret, as_secret
from .approvals import AccessPolicy
from .gateway import Intents, ReconnectPolicy
from .media._policy import MediaPolicy
from .proxy import Direct, ProxyConfig
from .stores import StoreTtl, parse_store_url

__all__ = ["Settings"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything that configures one bot.

    - ``app_id``/``secret``: the bot's credentials (the secret is redacted in every repr).
    - ``endpoints``: production by default; the sandbox or the simulator otherwise.
    - ``intents``: the Identify bitmask (default: C2C, groups, guild @-messages, guild DMs
      and button taps, gateway.md §5).
    - ``shard``: ``(shard_id, shard_count)``.
    - ``proxy``: ``None`` follows the proxy variables of the environment the driver is
      given; a URL, a :class:`~qqproto.proxy.ProxyConfig` or
      :data:`~qqproto.proxy.DIRECT` override them.
    - ``policy``: the reconnect policy (:class:`~qqproto.gateway.ReconnectPolicy`).
    - ``auto_mark_processed``: count a dispatch as processed once it is delivered (the
      resume point and the webhook op 12 answer); turn off to mark it yourself.
    - ``auto_ack_interactions``: answer every button tap with "success" as it arrives,
      before any handler runs, so the user's spinner stops at once (rest.md §5.5, §5.8);
      turn off to choose the answer code yourself with ``bot.ack_interaction``.
    - ``access``: who may talk to the bot (:class:`~qqproto.approvals.AccessPolicy`, a
      rule for every scope: C2C, groups, guild channels, guild DMs, and button taps in
      each); the drivers apply it before any handler runs, and a refused tap is ACKed
      with "no permission".  ``None`` (default): everyone.
    - ``limits``: what the drivers cap and bound on the bot's behalf (HTTP answers,
      undelivered events, webhook connections): :class:`~qqproto.Limits`.
    - ``media``: where attachments may be downloaded from and how
      (:class:`~qqproto.media.MediaPolicy`: the platform's media hosts over https by
      default; ``QQBOT_MEDIA_ORIGINS`` adds exact origins such as the simulator's).
    - ``store``: where what outlives the process is kept (session snapshots, processed
      event ids, webhook replay ids, shard leases): ``memory:`` (default),
      ``file:PATH``, ``sqlite:PATH`` or ``redis://…`` (:mod:`qqproto.stores`).
    - ``shards``: run this many shards (``"auto"``: ``/gateway/bot``'s recommendation,
      gateway.md §10) instead of the one ``shard``; with a shared store (sqlite, Redis)
      the processes of one app id divide them by leases, each taking at most
      ``shards_per_process``.
    - ``store_ttl``: how long the store keeps each kind of thing
      (:class:`~qqproto.stores.StoreTtl`; shorten ``lease`` for a faster takeover).
    """

    app_id: str
    secret: Secret
    endpoints: Endpoints = field(default_factory=Endpoints)
    intents: int = int(Intents.default())
    shard: tuple[int, int] = (0, 1)
    # A proxy URL may hold a password: kept out of the repr, like ``store``.
    proxy: str | ProxyConfig | Direct | None = field(default=None, repr=False)
    policy: ReconnectPolicy | None = None
    auto_mark_processed: bool = True
    auto_ack_interactions: bool = True
    access: AccessPolicy | None = None
    limits: Limits = field(default_factory=Limits)
    media: MediaPolicy = field(default_factory=MediaPolicy)
    store: str = field(default="memory:", repr=False)  # a Redis URL may hold a password
    shards: int | str | None = None
    shards_per_process: int | None = None
    store_ttl: StoreTtl = field(default_factory=StoreTtl)

    def __post_init__(self) -> None:
        if not isinstance(self.secret, Secret):
            object.__setattr__(self, "secret", as_secret(self.secret))
        shard_id, shard_count = self.shard
        if shard_count < 1 or not 0 <= shard_id < shard_count:
            raise ValueError(f"shard {self.shard!r}: need 0 <= shard_id < shard_count")
        parse_store_url(self.store)  # a ValueError names what is wrong
        if self.shards is not None and self.shards != "auto" and (
                not isinstance(self.shards, int) or isinstance(self.shards, bool)
                or self.shards < 1):
            raise ValueError(f"shards {self.shards!r}: need a positive int or 'auto'")
        if self.shards_per_process is not None and self.shards_per_process < 1:
            raise ValueError("shards_per_process must be at least 1")

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: Any) -> Settings:
        """Settings from ``QQBOT_APP_ID``, ``QQBOT_CLIENT_SECRET`` and, when set,
        ``QQBOT_API_BASE``/``QQBOT_TOKEN_URL`` (the sandbox, the simulator);
        ``overrides`` set any other field.  A missing credential is a ``ValueError``
        that names the variable."""
        app_id = env.get("QQBOT_APP_ID", "").strip()
        secret = env.get("QQBOT_CLIENT_SECRET", "")
        missing = [name for name, value in (("QQBOT_APP_ID", app_id),
                                            ("QQBOT_CLIENT_SECRET", secret)) if not value]
        if missing:
            raise ValueError(f"set {' and '.join(missing)}")
        default = Endpoints()
        endpoints = Endpoints(api_base=env.get("QQBOT_API_BASE") or default.api_base,
                              token_url=env.get("QQBOT_TOKEN_URL") or default.token_url)
        overrides.setdefault("endpoints", endpoints)
        overrides.setdefault("media", MediaPolicy.from_env(env))
        return cls(app_id=app_id, secret=as_secret(secret), **overrides)

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied (the value itself is immutable)."""
        return replace(self, **changes)

    def with_recommended_shards(self, recommended: int | None) -> Settings:
        """``shards="auto"`` resolved to ``/gateway/bot``'s recommended count
        (gateway.md §2.2); one shard when the answer recommends none (absent or 0).  Any
        other ``shards`` value is the application's choice and stays."""
        if self.shards != "auto":
            return self
        return self.replace(shards=recommended or 1)
