"""Where a message comes from: real campaigns, broadcasts, newsletters, transactional messages."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cio_warehouse.sandbox.event_catalog import CHANNELS, SPEC_ORIGINS, OriginKind
from cio_warehouse.sandbox.rng import RowRandom, stable_key
from cio_warehouse.sandbox.workspace import Workspace

# Rows read per table to find origins: every row of a small workspace, a fixed sample of a large
# one (a stream features a few hundred live messages, not 100,000 newsletters).
_SAMPLE = 400
# How often each origin is chosen when the channel has it (campaigns dominate real workspaces).
_WEIGHTS: dict[OriginKind, int] = {
    "campaign": 50, "broadcast": 15, "newsletter": 25, "transactional": 10,
}
# Newsletters carry a `type`; campaign and broadcast actions an action `type`. The generated
# workspace has no slack or whatsapp actions, so those channels borrow any message action.
_MESSAGE_ACTIONS = frozenset({"email", "sms", "push", "webhook", "in_app", "slack", "whatsapp"})


@dataclass(frozen=True)
class Origin:
    """One message of the workspace: the ids an event carries to join the App API tables."""

    kind: OriginKind
    id: int  # campaign_id, broadcast_id, newsletter_id or transactional_message_id
    name: str
    action_id: int | None = None  # campaigns and broadcasts: one of the row's `actions`
    sibling_action_ids: tuple[int, ...] = ()  # the row's other actions (parent_action_id)
    content_ids: tuple[int, ...] = ()  # newsletters: the row's `content_ids` (variants)
    event_triggered: bool = False  # campaigns with `type: event` carry a trigger_event_id


class Origins:
    """Origins per channel, read once from the workspace's rows (deterministic by seed)."""

    def __init__(self, workspace: Workspace) -> None:
        self._pools: dict[tuple[str, OriginKind], list[Origin]] = {}
        fallback: dict[OriginKind, list[Origin]] = {"campaign": [], "broadcast": []}
        tables: tuple[tuple[OriginKind, str], ...] = (
            ("campaign", "campaigns"), ("broadcast", "broadcasts"))
        for kind, table in tables:
            for row in _sample_rows(workspace, table):
                for origin, action_type in _action_origins(kind, row):
                    self._add(action_type, origin)
                    fallback[kind].append(origin)
        for row in _sample_rows(workspace, "newsletters"):
            content = tuple(row["content_ids"]) or (1,)
            self._add(row["type"], Origin("newsletter", row["id"], row["name"],
                                          content_ids=content))
        for row in _sample_rows(workspace, "transactional"):
            origin = Origin("transactional", row["id"], row["name"])
            for channel in CHANNELS:
                if "transactional" in SPEC_ORIGINS[channel]:
                    self._add(channel, origin)
        for channel in CHANNELS:
            for kind, pool in fallback.items():
                if pool and (channel, kind) not in self._pools:
                    self._pools[(channel, kind)] = list(pool)

    def kinds(self, channel: str, allowed: Iterable[OriginKind] | None = None) -> list[OriginKind]:
        """The origin kinds this workspace can attribute a `channel` message to."""
        permitted = SPEC_ORIGINS[channel] if allowed is None else tuple(allowed)
        return [kind for kind in permitted if self._pools.get((channel, kind))]

    def choose_kind(
        self, r: RowRandom, channel: str, allowed: Iterable[OriginKind] | None = None,
    ) -> OriginKind:
        kinds = self.kinds(channel, allowed)
        if not kinds:
            raise ValueError(
                f"the workspace has no campaign, broadcast or newsletter to send {channel} from"
            )
        ticket = r.below(sum(_WEIGHTS[kind] for kind in kinds))
        for kind in kinds:
            ticket -= _WEIGHTS[kind]
            if ticket < 0:
                return kind
        return kinds[-1]

    def pick(self, r: RowRandom, channel: str, kind: OriginKind) -> Origin:
        pool = self._pools.get((channel, kind))
        if not pool:
            raise ValueError(f"the workspace has no {kind} that sends {channel}")
        return r.pick(pool)

    def _add(self, channel: str, origin: Origin) -> None:
        self._pools.setdefault((channel, origin.kind), []).append(origin)


def _sample_rows(workspace: Workspace, table: str) -> list[dict[str, Any]]:
    count = workspace.expected_rows(table)
    if count <= _SAMPLE:
        return list(workspace.rows(table))
    r = RowRandom(stable_key("cio-sandbox-origins", workspace.seed, table))
    indices = sorted({r.below(count) for _ in range(_SAMPLE)})
    return [workspace.row(table, index) for index in indices]


def _action_origins(kind: OriginKind, row: dict[str, Any]) -> list[tuple[Origin, str]]:
    """One origin per message action of a campaign or broadcast row.

    Actions missing an id or a type are skipped: the published broadcasts example splits one
    action across two items (cio-examples/README.md), so a row may hold such halves.
    """
    actions: Sequence[Any] = row.get("actions") or ()
    ids = [a["id"] for a in actions if isinstance(a, dict) and isinstance(a.get("id"), int)]
    found = []
    for action in actions:
        if not isinstance(action, dict):
            continue
        action_id, action_type = action.get("id"), action.get("type")
        if isinstance(action_id, int) and action_type in _MESSAGE_ACTIONS:
            origin = Origin(
                kind, row["id"], row["name"], action_id=action_id,
                sibling_action_ids=tuple(i for i in ids if i != action_id),
                event_triggered=row.get("type") == "event",
            )
            found.append((origin, str(action_type)))
    return found
