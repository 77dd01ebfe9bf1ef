"""The configuration reference (docs/configuration.md) lists every setting the code reads, as the code declares it."""

from __future__ import annotations

import ast
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from loa_dev import configref

REFERENCE = configref.REPO_ROOT / "docs" / "configuration.md"


def _envs(text: str) -> set[str]:
    """The variables in the reference's settings tables (the hand-written table at the end is not one of them)."""
    tables = text.split(configref.OTHER.splitlines()[0])[0]
    return {line.split("`")[1] for line in tables.splitlines() if line.startswith("| `")}


def test_every_setting_in_the_code_is_in_the_committed_reference() -> None:
    in_code = {s.env for c in configref.collect() for s in c.settings}
    documented = _envs(REFERENCE.read_text(encoding="utf-8"))
    assert in_code - documented == set(), f"missing from docs/configuration.md; run `{configref.REGENERATE}`"
    assert documented - in_code == set(), f"no longer in the code; run `{configref.REGENERATE}`"


def test_committed_reference_is_what_the_generator_prints() -> None:
    # Types, defaults and descriptions too: regenerate after changing a settings class.
    assert REFERENCE.read_text(encoding="utf-8") == configref.render(configref.collect()), configref.REGENERATE


def test_every_settings_class_in_the_repository_is_documented() -> None:
    documented = {(c.module, c.name) for c in configref.collect()}
    names = {name for _, name in documented} | {"BaseSettings"}
    found = set()
    for top in ("libs", "services", "cli", "tools"):
        for path in (configref.REPO_ROOT / top).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ClassDef) and any(
                    isinstance(base, ast.Name | ast.Attribute) and ast.unparse(base).split(".")[-1] in names
                    for base in node.bases
                ):
                    found.add((path.relative_to(configref.REPO_ROOT).as_posix(), node.name))
    assert {name for _, name in found} <= {name for _, name in documented}, found


class _Example(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOA_")

    # Shared by the run below.
    first: int = 2 * 1024
    second: str | None = None  # and this one's own words

    third: float = 1.5
    fourth: bool = Field(default=True, description="From the Field.")
    fifth: str = Field("x", validation_alias="OTHER_NAME")
    sixth: str = Field("y", validation_alias=AliasChoices("LOA_NEW_NAME", "LOA_OLD_NAME"))


def test_descriptions_come_from_the_field_or_the_comment_above_its_run() -> None:
    rows = {s.field: s for s in configref.describe(_Example, None).settings}
    assert rows["first"].description == "Shared by the run below."
    assert rows["second"].description == "Shared by the run below. and this one's own words"
    assert rows["third"].description == ""  # a blank line ends the run
    assert rows["fourth"].description == "From the Field."
    assert rows["first"].default == "`2048` (`2 * 1024`)"
    assert rows["second"].type == "string (optional)"
    assert rows["second"].default == "unset"
    assert rows["fourth"].default == "`true`"
    assert rows["first"].env == "LOA_FIRST"
    assert rows["fifth"].env == "OTHER_NAME"
    assert (rows["sixth"].env, rows["sixth"].aliases) == ("LOA_NEW_NAME", ("LOA_OLD_NAME",))


def test_settings_modules_are_found_per_service(tmp_path: Path) -> None:
    for package in ("services/b/loa_b", "services/a/loa_a", "services/c/not_loa"):
        (tmp_path / package).mkdir(parents=True)
        (tmp_path / package / "settings.py").write_text("")
    assert configref.settings_modules(tmp_path) == ["loa_core.settings", "loa_a.settings", "loa_b.settings"]
