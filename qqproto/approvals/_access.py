"""Who may talk to the bot at all: one :class:`AccessPolicy` for every inbound scope.

The seed adapter checked its allow-lists for C2C and group messages only, so anyone
could reach the bot through a guild channel @-message or a guild DM.  Here the policy is
a rule per :class:`~qqproto.ChatScope`, and a policy cannot be built without a rule for
every member of the enum: a scope added to the models is a ``ValueError`` at the first
policy built, not a silent hole.  Every message event (whatever its class:
:func:`subject_of` reads the normalised ``event.message``) and every button tap is a
:class:`Subject` the policy judges; the drivers apply it before any handler runs.

A tap in a guild does not say whether it came from a channel or a guild DM (rest.md
§5.2: ``scene`` is ``"guild"`` for both), so it is judged under both rules: refused if
either refuses the user or the place by name (a deny list), admitted if either admits
it.  A tap with no scene at all is judged the same way under every rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from types import MappingProxyType

from .._values import ChatScope
from ..events import Event
from ..models import InteractionCreate, MessageEvent

__all__ = ["AccessPolicy", "AccessRule", "Place", "Subject", "subject_of"]


def _ids(values: Iterable[str], what: str) -> frozenset[str]:
    if isinstance(values, str):
        raise TypeError(f"{what} takes a collection of ids, not one string")
    found = frozenset(values)
    if not all(isinstance(v, str) and v for v in found):
        raise ValueError(f"{what} must hold non-empty strings")
    return found


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessRule:
    """The rule of one scope.

    ``open`` is the answer for a chat and user on no list; it has no default, so every
    rule says which it is.  ``deny_chats``/``deny_users`` refuse whatever ``open`` says;
    when closed, ``allow_chats`` (a whole group, channel, guild or DM) and
    ``allow_users`` admit.  Each list is any collection of ids, kept as a frozenset.
    Chats are group openids, channel ids, guild ids (a channel's guild, a DM's source
    guild) or DM guild ids; users are the ids the scope gives its authors (rest.md §5
    item 3, gateway.md §6.3).
    """

    open: bool
    allow_chats: AbstractSet[str] = field(default_factory=frozenset)
    deny_chats: AbstractSet[str] = field(default_factory=frozenset)
    allow_users: AbstractSet[str] = field(default_factory=frozenset)
    deny_users: AbstractSet[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not isinstance(self.open, bool):
            raise TypeError("AccessRule.open must be True or False")
        for name in ("allow_chats", "deny_chats", "allow_users", "deny_users"):
            object.__setattr__(self, name, _ids(getattr(self, name), name))

    def refuses(self, chats: tuple[str, ...], user: str | None) -> bool:
        """Whether a deny list names ``user`` or one of ``chats``."""
        return user in self.deny_users or any(c in self.deny_chats for c in chats)

    def admits(self, chats: tuple[str, ...], user: str | None) -> bool:
        """Whether this rule lets ``user`` talk to the bot in ``chats``."""
        if self.refuses(chats, user):
            return False
        return self.open or user in self.allow_users or \
            any(c in self.allow_chats for c in chats)


@dataclass(frozen=True, slots=True)
class Place:
    """A scope and the ids that name the place in it (most specific first)."""

    scope: ChatScope
    chats: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Subject:
    """Who wants to talk to the bot, and where (one place, or several when the event
    does not say which)."""

    user: str | None
    places: tuple[Place, ...]


def _present(*values: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


def subject_of(event: Event) -> Subject | None:
    """The subject of a message or a tap; ``None`` for every other event (lifecycle,
    guild management …), which no user sends to the bot."""
    if isinstance(event, MessageEvent):
        m = event.message
        extra = getattr(event, "src_guild_id", None)
        chats = _present(m.chat_id, m.channel_id, m.guild_id,
                         extra if isinstance(extra, str) else None)
        return Subject(m.author_id or None, (Place(m.scope, chats),))
    if isinstance(event, InteractionCreate):
        user = event.operator_id
        if event.scene in ("c2c", "group") and event.scope is not None:
            return Subject(user, (Place(event.scope, _present(event.chat_id)),))
        if event.scene == "guild":
            return Subject(user, (
                Place(ChatScope.CHANNEL, _present(event.channel_id, event.guild_id)),
                Place(ChatScope.DM, _present(event.guild_id, event.channel_id))))
        chats = _present(event.chat_id, event.guild_id)
        return Subject(user, tuple(Place(scope, chats) for scope in ChatScope))
    return None


class AccessPolicy:
    """One :class:`AccessRule` per :class:`~qqproto.ChatScope`, every scope required.

    ``AccessPolicy.open()`` admits everyone; ``AccessPolicy.only(users=…, chats=…)``
    admits those alone, everywhere; ``AccessPolicy({ChatScope.C2C: rule, …})`` says it
    scope by scope; :meth:`replace` changes one scope of a policy.
    """

    __slots__ = ("rules",)

    rules: Mapping[ChatScope, AccessRule]

    def __init__(self, rules: Mapping[ChatScope, AccessRule] | Mapping[str, AccessRule],
                 ) -> None:
        table = {ChatScope(scope): rule for scope, rule in rules.items()}
        missing = [scope.value for scope in ChatScope if scope not in table]
        if missing:
            raise ValueError(f"an access policy needs a rule for every scope; "
                             f"missing: {', '.join(missing)}")
        for scope, rule in table.items():
            if not isinstance(rule, AccessRule):
                raise TypeError(f"the rule for {scope.value} is not an AccessRule")
        self.rules = MappingProxyType(table)

    @classmethod
    def uniform(cls, rule: AccessRule) -> AccessPolicy:
        """The same ``rule`` in every scope."""
        return cls(dict.fromkeys(ChatScope, rule))

    @classmethod
    def open(cls, *, deny_users: Iterable[str] = (),
             deny_chats: Iterable[str] = ()) -> AccessPolicy:
        """Everyone, everywhere, except the users and chats named."""
        return cls.uniform(AccessRule(open=True, deny_users=frozenset(deny_users),
                                      deny_chats=frozenset(deny_chats)))

    @classmethod
    def only(cls, *, users: Iterable[str] = (), chats: Iterable[str] = ()) -> AccessPolicy:
        """Nobody but the users and chats named, everywhere."""
        return cls.uniform(AccessRule(open=False, allow_users=frozenset(users),
                                      allow_chats=frozenset(chats)))

    def replace(self, scope: ChatScope | str, rule: AccessRule) -> AccessPolicy:
        """A copy with ``rule`` for ``scope``."""
        rules = dict(self.rules)
        rules[ChatScope(scope)] = rule
        return AccessPolicy(rules)

    def admits_subject(self, subject: Subject) -> bool:
        """Refused if a deny list of any of the subject's places names it; else admitted
        if the rule of one of its places admits it (see the module docstring)."""
        judged = [(self.rules[p.scope], p.chats) for p in subject.places]
        if not judged or any(rule.refuses(chats, subject.user) for rule, chats in judged):
            return False
        return any(rule.admits(chats, subject.user) for rule, chats in judged)

    def admits(self, event: Event) -> bool:
        """Whether ``event`` may reach the bot's handlers (events no user sends: yes)."""
        subject = subject_of(event)
        return subject is None or self.admits_subject(subject)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AccessPolicy) and dict(self.rules) == dict(other.rules)

    def __hash__(self) -> int:
        return hash(tuple(sorted((s.value, r) for s, r in self.rules.items())))

    def __repr__(self) -> str:
        kinds = ", ".join(f"{scope.value}={'open' if rule.open else 'closed'}"
                          for scope, rule in self.rules.items())
        return f"AccessPolicy({kinds})"

