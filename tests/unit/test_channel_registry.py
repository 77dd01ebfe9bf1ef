"""ChannelRegistry.apply: the highest revision per channel wins, REMOVED forgets, a seed is overridden (pure)."""

from __future__ import annotations

import pytest

from loa_core.channel_registry import ChannelRegistry
from loa_core.contracts import Channel, ChannelState, ChannelUpdated


def channel(name: str, *, profiles: tuple[str, ...] = ("youtube",), **fields: object) -> Channel:
    return Channel(name=name, platform="youtube", profiles=profiles, **fields)  # type: ignore[arg-type]


def update(c: Channel, revision: int) -> ChannelUpdated:
    return ChannelUpdated(channel=c, revision=revision)


def test_the_highest_revision_wins_whatever_the_order() -> None:
    registry = ChannelRegistry()
    newer = channel("p1-yt", profiles=("youtube", "tiktok"))
    assert registry.apply(update(newer, 2))
    assert not registry.apply(update(channel("p1-yt"), 1))  # older, read after
    assert not registry.apply(update(newer, 2))  # the same record again
    assert registry["p1-yt"] == newer and registry.revision("p1-yt") == 2


def test_removed_forgets_the_channel_and_an_older_record_does_not_bring_it_back() -> None:
    registry = ChannelRegistry()
    registry.apply(update(channel("p1-yt"), 1))
    assert registry.apply(update(channel("p1-yt", state=ChannelState.REMOVED), 2))
    assert "p1-yt" not in registry and registry.get("p1-yt") is None
    assert not registry.apply(update(channel("p1-yt"), 1))
    assert "p1-yt" not in registry and registry.revision("p1-yt") == 2
    assert registry.apply(update(channel("p1-yt"), 3))  # added again later
    assert "p1-yt" in registry


def test_a_seeded_channel_is_overridden_by_any_record() -> None:
    seeded = channel("local", profiles=("tiktok", "youtube"))
    registry = ChannelRegistry([seeded])
    assert registry.revision("local") == 0 and registry["local"] == seeded
    disconnected = channel("local", profiles=("tiktok", "youtube"), state=ChannelState.DISCONNECTED)
    assert registry.apply(update(disconnected, 1))
    assert registry["local"].state is ChannelState.DISCONNECTED


def test_the_embedded_default_seeds_the_local_channel() -> None:
    registry = ChannelRegistry.seeded(None)
    assert [c.name for c in registry.all()] == ["local"]
    assert not registry.ready and registry.not_ready() is not None


def test_for_ward_and_all_list_by_name() -> None:
    registry = ChannelRegistry([channel("b", ward="phuong-1"), channel("a", ward="phuong-1"), channel("c", ward="x")])
    assert [c.name for c in registry.for_ward("phuong-1")] == ["a", "b"]
    assert [c.name for c in registry.all()] == ["a", "b", "c"]


def test_listeners_hear_changes_only_and_one_failing_listener_stops_nothing(caplog: pytest.LogCaptureFixture) -> None:
    registry = ChannelRegistry()
    heard: list[tuple[str, ChannelState]] = []

    def broken(_: Channel) -> None:
        raise RuntimeError("listener bug")

    registry.subscribe(broken)
    registry.subscribe(lambda c: heard.append((c.name, c.state)))
    registry.apply(update(channel("p1-yt"), 1))
    registry.apply(update(channel("p1-yt"), 2))  # the same configuration: not a change
    registry.apply(update(channel("p1-yt", state=ChannelState.REMOVED), 3))
    registry.apply(update(channel("never", state=ChannelState.REMOVED), 1))  # removing an unknown one: no change
    assert heard == [("p1-yt", ChannelState.CONNECTED), ("p1-yt", ChannelState.REMOVED)]
    assert "listener bug" in caplog.text
