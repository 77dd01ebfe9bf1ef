"""The district page's rows (pure): every ward with figures or a channel, its link to its footage list over the
period's upload days, its channels by name."""

from __future__ import annotations

from loa_core.channels import Channel
from loa_ingest.channels import StoredChannel
from loa_ingest.district_page import ward_rows


def _stored(name: str, ward: str) -> StoredChannel:
    channel = Channel(name=name, platform="local", profiles=("youtube",), ward=ward)
    return StoredChannel(channel, revision=1, updated_at="2026-12-01T00:00:00+00:00", state_reason=None, sent=True)


def test_every_ward_with_figures_or_a_channel_gets_a_row_linking_to_its_footage_of_the_period() -> None:
    report = {
        "period": "2026-W49",
        "from": "2026-11-30",
        "to": "2026-12-07",  # exclusive
        "wards": [{"ward": "phuong-2", "footage": 3, "platforms": {}}],
    }
    rows = ward_rows(report, [_stored("p1-z", "phuong-1"), _stored("p1-a", "phuong-1"), _stored("p2", "phuong-2")])
    assert [r.ward for r in rows] == ["phuong-1", "phuong-2"]
    assert rows[0].totals is None and rows[1].totals == report["wards"][0]
    assert [s.channel.name for s in rows[0].channels] == ["p1-a", "p1-z"]
    assert rows[1].footage_link == "/ui/footage?ward=phuong-2&from=2026-11-30&to=2026-12-06"
    assert ward_rows(None, [_stored("p1-a", "phuong-1")])[0].footage_link == "/ui/footage?ward=phuong-1"
