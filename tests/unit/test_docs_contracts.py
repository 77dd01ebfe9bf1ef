"""docs/architecture.md says what the contracts say: its topic table, storage areas and status words."""

from __future__ import annotations

from pathlib import Path

from loa_core.contracts import ALL_TOPICS, FOOTAGE_STATUSES, layout
from loa_core.contracts.topics import DAY_MS

ARCHITECTURE = (Path(__file__).resolve().parents[2] / "docs" / "architecture.md").read_text(encoding="utf-8")


def _cells(line: str) -> list[str]:
    return [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]


def _names(cell: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in cell.split(",") if name.strip() and not name.strip().startswith("("))


def test_the_topic_table_is_the_contracts() -> None:
    rows = {}
    for line in ARCHITECTURE.splitlines():
        cells = _cells(line)
        if line.startswith("| `") and len(cells) == 6 and (cells[5].endswith("days") or cells[5] == "compacted"):
            retention = cells[5] if cells[5] == "compacted" else int(cells[5].split()[0])
            rows[cells[0]] = (cells[1], _names(cells[2]), _names(cells[3]), int(cells[4]), retention)
    declared = {
        spec.name: (
            spec.event.__name__,
            spec.producers,
            spec.consumers,
            spec.partitions,
            "compacted" if spec.compacted else spec.retention_ms // DAY_MS,
        )
        for spec in ALL_TOPICS
    }
    assert rows == declared


def test_every_storage_area_and_status_word_is_named() -> None:
    missing = [area.prefix for area in layout.AREAS if f"`{area.prefix}" not in ARCHITECTURE]
    missing += [status.value for status in FOOTAGE_STATUSES if f"`{status.value}`" not in ARCHITECTURE]
    assert missing == []
