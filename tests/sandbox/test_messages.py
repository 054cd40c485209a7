"""`GET /v1/messages`: windows, limits and paging, ids shared with the webhook stream, the clock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cio_warehouse.sandbox import Behaviour, RepeatCursor, SandboxServer, Workspace
from cio_warehouse.sandbox.deliveries import DeliveryGenerator
from cio_warehouse.sandbox.history import SIX_MONTHS_S

from .conftest import KEY, client_for, read_all

PATH = "/v1/messages"
DAY = 86_400
# A day and a half of history at one delivery a minute: ~2,100 rows, three pages of 1000.
HISTORY_DAYS = 1.5


def server(behaviour: Behaviour | None = None, **kwargs: Any) -> SandboxServer:
    workspace = Workspace.preset("small", seed=12, behaviour=behaviour or Behaviour(),
                                 cursor_end=kwargs.pop("cursor_end", None))
    options: dict[str, Any] = {"rate_limit_rps": None, "history_days": HISTORY_DAYS, **kwargs}
    return SandboxServer(workspace, api_key=KEY, **options)


@pytest.fixture(scope="module")
def docs() -> Iterator[SandboxServer]:
    with server() as sb:
        yield sb


@pytest.fixture(scope="module")
def live() -> Iterator[SandboxServer]:
    with server(Behaviour.live()) as sb:
        yield sb


def walk(client: httpx.Client, limit: int = 1000, **params: Any) -> tuple[list[dict[str, Any]],
                                                                         int]:
    return read_all(client, PATH, "messages", limit=limit, **params)


def ids(rows: list[dict[str, Any]]) -> list[str]:
    return [row["id"] for row in rows]


# -- windows, limits, paging ----------------------------------------------------------------


def test_default_window_is_all_of_history_newest_first(docs: SandboxServer) -> None:
    with client_for(docs) as client:
        rows, requests = walk(client, limit=700)
    expected = docs.history_ids()
    assert ids(rows) == expected and len(set(expected)) == len(expected) > 1_500
    assert requests == -(-len(rows) // 700)  # full pages, no empty one (docs reading)
    created = [row["created"] for row in rows]
    assert created == sorted(created, reverse=True)
    assert created[-1] >= docs.history.history_start and created[0] <= docs.now()


def test_a_window_is_start_inclusive_end_exclusive(docs: SandboxServer) -> None:
    rows = docs.history_rows()
    end_ts = rows[10]["created"]  # a delivery's own second: it is left out, the next one in
    start_ts = rows[200]["created"]
    with client_for(docs) as client:
        window, _ = walk(client, start_ts=str(start_ts), end_ts=str(end_ts))
    assert window and all(start_ts <= row["created"] < end_ts for row in window)
    assert ids(window) == docs.history_ids(start_ts, end_ts)
    assert rows[200]["id"] in ids(window) and rows[10]["id"] not in ids(window)


def test_a_window_longer_than_six_months_is_400(docs: SandboxServer) -> None:
    end = int(docs.now())
    with client_for(docs) as client:
        longest = client.get(PATH, params={"start_ts": end - SIX_MONTHS_S, "end_ts": end})
        too_long = client.get(PATH, params={"start_ts": end - SIX_MONTHS_S - 1, "end_ts": end})
        only_start = client.get(PATH, params={"start_ts": end - 400 * DAY})
        only_end = client.get(PATH, params={"end_ts": end + 1})
        from_tomorrow = client.get(PATH, params={"start_ts": end + DAY})
        backwards = client.get(PATH, params={"start_ts": end, "end_ts": end - 1})
        garbage = client.get(PATH, params={"start_ts": "yesterday"})
    assert longest.status_code == 200 and longest.json()["messages"]
    assert too_long.status_code == 400 and "6 months" in too_long.text
    # With one bound, the other is chosen so that the window is at most 6 months.
    assert only_start.status_code == 200 and only_start.json()["messages"] == []
    assert only_end.status_code == 200 and only_end.json()["messages"]
    assert from_tomorrow.json() == {"messages": [], "next": ""}
    assert backwards.status_code == 400 and garbage.status_code == 400


def test_limit_default_clamp_and_garbage(docs: SandboxServer) -> None:
    with client_for(docs) as client:
        default = client.get(PATH).json()
        clamped = client.get(PATH, params={"limit": 5_000}).json()
        assert client.get(PATH, params={"limit": "ten"}).status_code == 400
        assert client.get(PATH, params={"limit": 0}).status_code == 400
    assert len(default["messages"]) == 50 and default["next"]
    assert len(clamped["messages"]) == 1_000
    assert ids(default["messages"]) == ids(clamped["messages"])[:50]


def test_a_cursor_from_elsewhere_is_400_in_the_docs_reading(docs: SandboxServer) -> None:
    with client_for(docs) as client:
        cursor = client.get(PATH, params={"limit": 10}).json()["next"]
        newsletters = client.get("/v1/newsletters", params={"limit": 1}).json()["next"]
        assert client.get(PATH, params={"start": newsletters}).status_code == 400
        assert client.get(PATH, params={"start": "not-a-cursor"}).status_code == 400
        # A cursor of the whole history lies outside a window that ends before it.
        early = docs.history.history_start + 3_600
        outside = client.get(PATH, params={"start": cursor, "end_ts": early})
    assert outside.status_code == 400


def test_new_deliveries_on_top_do_not_shift_a_walk() -> None:
    with server(history_days=0.5) as sb, client_for(sb) as client:
        first = client.get(PATH, params={"limit": 100}).json()
        sb.advance_clock(3_600)  # 60 new deliveries arrive above the first page
        second = client.get(PATH, params={"limit": 100, "start": first["next"]}).json()
        rows, _ = walk(client)
    paged = ids(first["messages"] + second["messages"])
    top = ids(rows).index(paged[0])
    assert top >= 55 and ids(rows)[top : top + 200] == paged  # no row skipped or repeated


# -- rows: the webhook stream's deliveries, metrics, forgotten -------------------------------


def test_ids_metrics_and_failures_match_the_webhook_stream(docs: SandboxServer) -> None:
    """One generator: every delivery the stream starts in a window is a row of that window, with
    the delivery_id its events carry and the first time of each message metric so far."""
    now = docs.now()
    start_ts, end_ts = int(now) - 6 * 3_600, int(now) - 60
    stream = DeliveryGenerator(docs.workspace, start=start_ts, warmup_s=0,
                               mean_gap_ms=docs.generator.mean_gap_ms)
    firsts: dict[str, dict[str, int]] = {}
    failures: dict[str, str] = {}
    for event in stream.stream():
        if event.timestamp > now - 1:
            break
        if event.delivery_id is None or event.subscription.startswith("customer_"):
            continue  # subscription changes: no message, no message metric
        firsts.setdefault(event.delivery_id, {}).setdefault(event.metric, event.timestamp)
        if event.metric in ("failed", "bounced", "dropped", "undeliverable"):
            data = event.payload["data"]
            failures[event.delivery_id] = data.get("failure_message") or (
                data["recipients"][0]["failure_message"])  # push: per device
    started = {delivery for delivery, metrics in firsts.items()
               if min(metrics.values()) < end_ts}
    with client_for(docs) as client:
        rows, _ = walk(client, start_ts=str(start_ts), end_ts=str(end_ts))
    assert set(ids(rows)) == started and len(rows) > 300
    for row in rows:
        assert row["created"] == min(firsts[row["id"]].values())
        # Events that came after `now - 1` but by the request's now may add a metric.
        assert firsts[row["id"]].items() <= row["metrics"].items()
        assert row["failure_message"] == failures.get(row["id"])
        assert row["deduplicate_id"] == f"{row['id']}:{row['created']}"


def test_row_fields(docs: SandboxServer) -> None:
    rows = docs.history_rows()
    assert {row["type"] for row in rows} == {
        "email", "push", "twilio", "whatsapp", "slack", "webhook", "in_app"}
    for row in rows:
        assert list(row) == [
            "id", "deduplicate_id", "message_template_id", "customer_id", "customer_identifiers",
            "recipient", "subject", "metrics", "created", "failure_message", "campaign_id",
            "action_id", "parent_action_id", "newsletter_id", "content_id", "broadcast_id",
            "type", "forgotten"]
        assert (row["subject"] is not None) == (row["type"] == "email")
        origins = [row[key] for key in ("campaign_id", "newsletter_id", "broadcast_id")]
        assert sum(origin is not None for origin in origins) <= 1
        assert set(row["customer_identifiers"]) == {"id", "email", "cio_id"}
        failed = {"failed", "bounced", "dropped", "undeliverable"} & set(row["metrics"])
        assert bool(failed) == (row["failure_message"] is not None)


def test_metrics_grow_as_the_clock_moves_on() -> None:
    with server(history_days=1) as sb, client_for(sb) as client:
        end_ts = int(sb.now())
        window = {"start_ts": str(end_ts - DAY), "end_ts": str(end_ts)}
        before, _ = walk(client, **window)
        total_before = len(sb.history_ids())
        sb.advance_clock(5 * DAY)
        after, _ = walk(client, **window)
        assert len(sb.history_ids()) > total_before + 4 * 1_400  # new deliveries on top
    assert ids(after) == ids(before)
    grew = 0
    for old, new in zip(before, after, strict=True):
        assert old["metrics"].items() <= new["metrics"].items()
        late = {metric for metric, at in new["metrics"].items() if at > end_ts}
        assert late == set(new["metrics"]) - set(old["metrics"])
        grew += bool(late & {"opened", "clicked", "converted"})
    assert grew >= 5


def test_a_few_deliveries_are_forgotten_three_days_on() -> None:
    with server(history_days=1) as sb, client_for(sb) as client:
        end_ts = int(sb.now())
        window = {"start_ts": str(end_ts - DAY), "end_ts": str(end_ts)}
        before, _ = walk(client, **window)
        moved = httpx.post(sb.url + "/_sandbox/clock", json={"advance_s": 3 * DAY + 60})
        assert moved.json()["now"] >= end_ts + 3 * DAY + 60
        after, _ = walk(client, **window)
    assert not any(row["forgotten"] for row in before)
    forgotten = [row for row in after if row["forgotten"]]
    assert 0 < len(forgotten) < len(after) / 10
    for row in forgotten:
        assert row["recipient"] is None and row["subject"] is None
        assert row["customer_identifiers"] is None
    assert ids(after) == ids(before)


def test_clock_control_route() -> None:
    with server(history_days=0) as sb, httpx.Client(base_url=sb.url + "/_sandbox") as control:
        assert abs(control.get("clock").json()["now"] - sb.now()) < 60
        assert control.post("clock", json={"now": 2_000_000_000}).json()["now"] >= 2e9
        assert 2e9 <= sb.now() < 2e9 + 60
        for bad in ({}, {"advance_s": "1"}, {"advance_s": 1, "now": 2}, [1]):
            assert control.post("clock", json=bad).status_code == 400
        assert sb.set_clock(1_900_000_000) == 1_900_000_000


# -- filters ---------------------------------------------------------------------------------


def test_type_metric_and_origin_filters(docs: SandboxServer) -> None:
    rows = docs.history_rows()
    campaign = next(row["campaign_id"] for row in rows if row["campaign_id"] is not None)
    action = next(row["action_id"] for row in rows if row["action_id"] is not None)
    newsletter = next(row["newsletter_id"] for row in rows if row["newsletter_id"] is not None)
    cases: list[tuple[dict[str, str], list[dict[str, Any]]]] = [
        ({"type": "twilio"}, [row for row in rows if row["type"] == "twilio"]),
        ({"type": "email", "metric": "opened"},
         [row for row in rows if row["type"] == "email" and "opened" in row["metrics"]]),
        ({"metric": "bounced"}, [row for row in rows if "bounced" in row["metrics"]]),
        ({"campaign_id": str(campaign)}, [row for row in rows if row["campaign_id"] == campaign]),
        ({"action_id": str(action)}, [row for row in rows if row["action_id"] == action]),
        ({"newsletter_id": str(newsletter)},
         [row for row in rows if row["newsletter_id"] == newsletter]),
    ]
    with client_for(docs) as client:
        for params, expected in cases:
            got, _ = walk(client, limit=200, **params)
            assert expected and ids(got) == ids(expected), params
        assert client.get(PATH, params={"type": "sms"}).status_code == 400
        assert client.get(PATH, params={"campaign_id": "x"}).status_code == 400


# -- the live switches -----------------------------------------------------------------------


def test_live_ends_with_a_cursor_then_one_null_page(live: SandboxServer) -> None:
    expected = live.history_ids()
    with client_for(live) as client:
        rows, requests = walk(client)
    assert ids(rows) == expected
    assert requests == -(-len(rows) // 1000) + 1  # the trailing empty page


def test_empty_window_docs_empty_list_live_null(docs: SandboxServer, live: SandboxServer) -> None:
    before = {"end_ts": str(docs.history.history_start - 1)}
    with client_for(docs) as client:
        assert client.get(PATH, params=before).json() == {"messages": [], "next": ""}
    with client_for(live) as client:
        assert client.get(PATH, params=before).json() == {"messages": None, "next": ""}


def test_live_restarts_the_walk_on_a_bad_start(live: SandboxServer) -> None:
    with client_for(live) as client:
        first = client.get(PATH, params={"limit": 20}).json()
        garbage = client.get(PATH, params={"limit": 20, "start": "not-a-cursor"})
        early = live.history.history_start + 3_600
        window = {"limit": 20, "end_ts": early}
        outside = client.get(PATH, params={**window, "start": first["next"]}).json()
        top_of_window = client.get(PATH, params=window).json()
    assert garbage.status_code == 200 and garbage.json() == first
    assert outside == top_of_window and outside["messages"]


def test_cursor_end_of_the_workspace_applies() -> None:
    with server(cursor_end="null", history_days=0.1) as sb, client_for(sb) as client:
        body = client.get(PATH, params={"limit": 1000}).json()
    assert body["messages"] and body["next"] is None


# -- the gate --------------------------------------------------------------------------------


def test_messages_need_the_key_and_share_the_rate_limit() -> None:
    with server(rate_limit_rps=3, history_days=0.1) as sb:
        with httpx.Client(base_url=sb.url) as anonymous:
            assert anonymous.get(PATH).status_code == 401
        with client_for(sb) as client:
            responses = [client.get(PATH, params={"limit": 1}) for _ in range(6)]
        limited = [r for r in responses if r.status_code == 429]
        assert limited and all("retry-after" in r.headers for r in limited)
        assert [r.path for r in sb.requests()].count(PATH) == 7


def test_repeat_cursor_knob_acts_on_messages(docs: SandboxServer) -> None:
    docs.set_faults([RepeatCursor(path=PATH)])
    try:
        with client_for(docs) as client:
            start = client.get(PATH, params={"limit": 5}).json()["next"]
            again = client.get(PATH, params={"limit": 5, "start": start}).json()
        assert again["next"] == start and len(again["messages"]) == 5
    finally:
        docs.clear_faults()


def test_cli_flags_set_history_and_gap() -> None:
    from cio_warehouse.sandbox.__main__ import _parser

    args = _parser().parse_args(["--api-key-env", "K", "--history-days", "30",
                                 "--delivery-gap-ms", "1000"])
    assert (args.history_days, args.delivery_gap_ms) == (30.0, 1000)
    defaults = _parser().parse_args(["--api-key-env", "K"])
    assert (defaults.history_days, defaults.delivery_gap_ms) == (14.0, 60_000)


def test_a_fixed_events_start_fixes_history_and_the_stream_joins_it() -> None:
    start = 1_767_225_600  # 2026-01-01T00:00:00Z
    with server(events_start=start, history_days=0.5) as one, server(events_start=start,
                                                                     history_days=0.5) as two:
        assert start <= one.now() < start + 60
        warmup = set(one.history_ids(start - 3_600, start))
        assert warmup and one.history_ids(start - DAY, start) == two.history_ids(
            start - DAY, start)
        streamed = {event.delivery_id for event in one.sender.next_events(40)} - {None}
        before = set(one.history_ids(start - DAY, start))
        one.advance_clock(3 * 3_600)
        after = set(one.history_ids())
    # The stream goes on where history stops: the deliveries it carries are history's once
    # their time has come, and the only ones already listed are the warm-up's late events.
    assert streamed and streamed <= after
    assert streamed & before <= warmup
