"""The embedded QQ simulator: the server side of everything a bot talks to, sans-IO.

:class:`Simulator` is the fake platform (tokens, gateway sessions, REST endpoints,
faults, records); :class:`SimConnection` is one accepted TCP connection, driven by
``qqproto_transports.sim_server`` or by a test byte by byte.  See docs/simulator.rst.
"""

from __future__ import annotations

from ._cdn import CdnConfig, CdnCounters, CdnFile, CdnStore, sim_cdn
from ._commands import CommandResult, run_command
from ._connection import SimConnection
from ._faults import Faults, HttpFault
from ._gateway import GatewayLink, LinkState
from ._media_events import cdn_attachment, inject_media_message, tone_wav, voice_attachment
from ._portal import BindTask, PortalStore, sim_portal
from ._records import (
    Counters,
    Direction,
    FrameKind,
    InteractionAck,
    PreparedEvent,
    RecordedFrame,
    RecordedRequest,
    SentMessage,
    SimEvent,
)
from ._rest import Route, Router, SimRequest, SimResponse, error_response, json_response
from ._simulator import Simulator
from ._transcript import describe_ack, describe_sent
from ._uploads import (
    DEFAULT_BLOCK_SIZE,
    StoredMedia,
    UploadConfig,
    UploadCounters,
    UploadStore,
    sim_uploads,
)
from ._webhook_push import (
    JobState,
    PushAttempt,
    PushCounters,
    PusherState,
    PushJob,
    PushKind,
    PushOutcome,
    PushRequest,
    WebhookPusher,
    event_body,
    signed_headers,
    validation_body,
)

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "BindTask",
    "CdnConfig",
    "CdnCounters",
    "CdnFile",
    "CdnStore",
    "CommandResult",
    "Counters",
    "Direction",
    "Faults",
    "FrameKind",
    "GatewayLink",
    "HttpFault",
    "InteractionAck",
    "JobState",
    "LinkState",
    "PortalStore",
    "PreparedEvent",
    "PushAttempt",
    "PushCounters",
    "PushJob",
    "PushKind",
    "PushOutcome",
    "PushRequest",
    "PusherState",
    "RecordedFrame",
    "RecordedRequest",
    "Route",
    "Router",
    "SentMessage",
    "SimConnection",
    "SimEvent",
    "SimRequest",
    "SimResponse",
    "Simulator",
    "StoredMedia",
    "UploadConfig",
    "UploadCounters",
    "UploadStore",
    "WebhookPusher",
    "cdn_attachment",
    "describe_ack",
    "describe_sent",
    "error_response",
    "event_body",
    "inject_media_message",
    "json_response",
    "run_command",
    "signed_headers",
    "sim_cdn",
    "sim_portal",
    "sim_uploads",
    "tone_wav",
    "validation_body",
    "voice_attachment",
]
