"""Approvals and confirmations over inline keyboards, and who may talk to the bot.

* :class:`ApprovalRequest` says what is asked and renders it as escaped markdown;
  :func:`approval_keyboard` (✅ once / ⭐ always / ❌ deny) and
  :func:`confirmation_keyboard` (✓ / ✗) build the buttons; :func:`parse_button_data`
  reads their ``approve:<key>:<decision>`` / ``update_prompt:[<key>:]<y|n>`` data back.
* :class:`PendingApprovals` is the sans-IO table of open questions: each tap on one of
  its keyboards becomes :class:`Resolved` or :class:`Refused` (with the ACK code), each
  deadline :class:`Expired`; only the user asked (or a named approver), in the chat
  asked, can decide.
* :class:`AccessPolicy` admits or refuses every message and tap, in every scope.
* :class:`Gate` applies both before any handler runs; the drivers execute its
  :class:`Admission` (``bot.ask_approval``, ``bot.ask_confirmation``, ``Settings.access``).
"""

from __future__ import annotations

from ._access import AccessPolicy, AccessRule, Place, Subject, subject_of
from ._codec import (
    APPROVE_PREFIX,
    BUTTON_DATA_BUDGET,
    CONFIRM_PREFIX,
    ApprovalData,
    ConfirmationData,
    Decision,
    fits_budget,
    parse_button_data,
)
from ._gate import DELIVER, SUBJECT_TYPES, Admission, Gate
from ._keyboards import (
    APPROVAL_GROUP,
    CONFIRMATION_GROUP,
    approval_keyboard,
    button_permission,
    confirmation_keyboard,
)
from ._pending import (
    DEFAULT_CONFIRMATION_TIMEOUT,
    Audience,
    Expired,
    PendingApprovals,
    Question,
    QuestionInput,
    QuestionKind,
    QuestionState,
    RefusalReason,
    Refused,
    Resolved,
    authorised,
)
from ._render import ApprovalRequest, Severity, escape_inline, preview_block

__all__ = [
    "APPROVAL_GROUP",
    "APPROVE_PREFIX",
    "BUTTON_DATA_BUDGET",
    "CONFIRMATION_GROUP",
    "CONFIRM_PREFIX",
    "DEFAULT_CONFIRMATION_TIMEOUT",
    "DELIVER",
    "SUBJECT_TYPES",
    "AccessPolicy",
    "AccessRule",
    "Admission",
    "ApprovalData",
    "ApprovalRequest",
    "Audience",
    "ConfirmationData",
    "Decision",
    "Expired",
    "Gate",
    "PendingApprovals",
    "Place",
    "Question",
    "QuestionInput",
    "QuestionKind",
    "QuestionState",
    "RefusalReason",
    "Refused",
    "Resolved",
    "Severity",
    "Subject",
    "approval_keyboard",
    "authorised",
    "button_permission",
    "confirmation_keyboard",
    "escape_inline",
    "fits_budget",
    "parse_button_data",
    "preview_block",
    "subject_of",
]
