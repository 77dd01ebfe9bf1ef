"""The configuration reference, generated from the settings classes.

Run as `python -m loa_dev.configref > docs/configuration.md`.

Every service reads one pydantic-settings class (a subclass of `loa_core.settings.CommonSettings`), defined in its
package's `settings.py`. This module imports those modules, lists every field of every settings class with its
environment variable, type and default, and takes each field's description from its `Field(description=...)` or
else from the comment lines directly above it (a comment above a run of fields describes each field of the run;
a comment at the end of the field's line is added). tests/unit/test_configref.py fails when the committed
reference differs from what this prints.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import io
import sys
import tokenize
import types
import typing
from dataclasses import dataclass
from enum import Enum
from pathlib import Path, PurePath

from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
COMMON_MODULE = "loa_core.settings"
REGENERATE = "python -m loa_dev.configref > docs/configuration.md"


@dataclass(frozen=True)
class Setting:
    field: str
    env: str
    type: str
    default: str
    description: str
    overrides_common: bool
    # Other variable names read for the same setting (an old name kept working), after `env`.
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class SettingsClass:
    module: str
    name: str
    settings: tuple[Setting, ...]


def settings_modules(root: Path = REPO_ROOT) -> list[str]:
    """loa_core.settings, then every service package's settings module, in name order."""
    services = sorted(path.parent.name for path in root.glob("services/*/loa_*/settings.py"))
    return [COMMON_MODULE, *(f"{package}.settings" for package in services)]


def settings_classes(module_name: str) -> list[type[BaseSettings]]:
    module = importlib.import_module(module_name)
    return [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, BaseSettings) and obj.__module__ == module_name
    ]


def _comments(source: str) -> dict[int, str]:
    """Line number (1-based, within `source`) -> the text of the comment on that line."""
    found: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            found[token.start[0]] = token.string.lstrip("#").strip()
    return found


def _field_docs(cls: type[BaseSettings]) -> dict[str, tuple[str, str | None]]:
    """Field name -> (description from comments, source text of the default) for the fields `cls` itself declares."""
    source = inspect.getsource(cls)
    lines = source.splitlines()
    comments = _comments(source)
    class_def = ast.parse(source).body[0]
    assert isinstance(class_def, ast.ClassDef)
    docs: dict[str, tuple[str, str | None]] = {}
    group = ""  # the comment block above the current run of fields
    previous_end = 0  # last line of the previous field in the run, 0 when the run was broken
    for node in class_def.body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            previous_end = 0
            continue
        above: list[str] = []
        line = node.lineno - 1
        while line >= 1 and line in comments and lines[line - 1].lstrip().startswith("#"):
            above.insert(0, comments[line])
            line -= 1
        if above:
            group = " ".join(above)
        elif not (previous_end and line == previous_end):
            group = ""
        inline = [comments[n] for n in range(node.lineno, (node.end_lineno or node.lineno) + 1) if n in comments]
        description = " ".join(part for part in (group, *inline) if part)
        docs[node.target.id] = (description, _default_source(node.value, source))
        previous_end = node.end_lineno or node.lineno
    return docs


def _default_source(value: ast.expr | None, source: str) -> str | None:
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "Field":
        positional = value.args[0] if value.args else None
        keyword = next((kw.value for kw in value.keywords if kw.arg == "default"), None)
        value = positional or keyword
    return ast.get_source_segment(source, value) if value is not None else None


def type_name(annotation: object) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{arg}`" for arg in args)
    if origin in (typing.Union, types.UnionType):
        named = [type_name(arg) for arg in args if arg is not type(None)]
        optional = len(named) < len(args)
        return " or ".join(named) + (" (optional)" if optional else "")
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(type_name(arg) for arg in args)}]"
    if annotation is SecretStr:
        return "secret string"
    if isinstance(annotation, type):
        return {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "Path": "path"}.get(
            annotation.__name__, annotation.__name__
        )
    return str(annotation)


def default_text(info: FieldInfo, source: str | None) -> str:
    if info.default_factory is not None:
        return "computed"
    default = info.default
    if default is PydanticUndefined:
        return "required"
    if default is None:
        return "unset"
    if isinstance(default, bool):
        text = "true" if default else "false"
    elif isinstance(default, Enum):
        text = str(default.value)
    elif isinstance(default, (str, PurePath)):
        text = str(default) if str(default) else '""'
    else:
        text = repr(default)
    shown = f"`{text}`"
    if source is not None and source != repr(default) and source.strip("\"'") != str(default):
        shown += f" (`{source}`)"
    return shown


def env_names(cls: type[BaseSettings], field: str, info: FieldInfo) -> tuple[str, ...]:
    """The variables a setting is read from: its alias(es) as given (no prefix), else the prefixed field name."""
    alias = info.validation_alias or info.alias
    if isinstance(alias, str):
        return (alias.upper(),)
    if isinstance(alias, AliasChoices):
        names = tuple(choice.upper() for choice in alias.choices if isinstance(choice, str))
        if names:
            return names
    return ((str(cls.model_config.get("env_prefix", "")) + field).upper(),)


def variables_read(cls: type[BaseSettings]) -> set[str]:
    """Every variable a settings class reads (its own fields and inherited ones): what a deployment may set."""
    return {name for field, info in cls.model_fields.items() for name in env_names(cls, field, info)}


def describe(cls: type[BaseSettings], common: type[BaseSettings] | None) -> SettingsClass:
    """The fields `cls` declares itself (inherited ones are documented on the class that declares them)."""
    own = _field_docs(cls)
    inherited = [_field_docs(base) for base in cls.__mro__[1:] if base is not BaseSettings and _is_settings(base)]
    settings = []
    for field, (comment, source) in own.items():
        info = cls.model_fields[field]
        env, *aliases = env_names(cls, field, info)
        description = info.description or comment
        for docs in inherited:  # an override without its own words keeps the base class's
            if description:
                break
            description = docs.get(field, ("", None))[0]
        settings.append(
            Setting(
                field=field,
                env=env,
                aliases=tuple(aliases),
                type=type_name(info.annotation),
                default=default_text(info, source),
                description=description,
                overrides_common=common is not None and cls is not common and field in common.model_fields,
            )
        )
    return SettingsClass(module=cls.__module__, name=cls.__name__, settings=tuple(settings))


def _is_settings(base: type) -> bool:
    return issubclass(base, BaseSettings) and base.__module__.startswith("loa")


def collect(root: Path = REPO_ROOT) -> list[SettingsClass]:
    classes = [cls for module in settings_modules(root) for cls in settings_classes(module)]
    common = next((cls for cls in classes if cls.__module__ == COMMON_MODULE), None)
    return [describe(cls, common) for cls in classes]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


HEADER = f"""\
# Configuration reference

<!-- Generated by `{REGENERATE}` from the settings classes; do not edit by hand.
     tests/unit/test_configref.py fails when this file and the code disagree. -->

Every service reads its settings from environment variables (and from files named after them in a `secrets_dir`
when one is configured). Each service has one pydantic-settings class; all of them extend `CommonSettings`, so
the common settings apply to every service, and a service may change a common default (marked *overrides the
common default*). Names are case-insensitive. Lists are comma-separated strings. Types: *path* is a filesystem
path (relative paths are relative to the working directory); *secret string* is never printed in logs or
errors; *(optional)* means the setting may be left unset.
"""

OUTSIDE = (
    (
        "`LOA_SECRET_<CHANNEL>_<NAME>`",
        "publisher",
        "a channel's credential (upper case, `-` becomes `_`), else the file `<LOA_SECRETS_DIR>/<channel>/<name>`",
    ),
    (
        "`IMAGEIO_FFMPEG_EXE`",
        "every service that runs ffmpeg",
        "the ffmpeg to run instead of the pinned FFmpeg 9 of the `imageio-ffmpeg` wheel, e.g. `/usr/bin/ffmpeg`",
    ),
    (
        "`LOA_TOKEN`, `LOA_INGEST_URL`, `LOA_METRICS_URL`, `LOA_PUBLISHER_URL`",
        "the `loa` CLI",
        "the token and the service URLs, over those stored in `~/.config/loa/cli.json`",
    ),
    ("`LOA_CLI_CONFIG`, `LOA_CLI_STATE`", "the `loa` CLI", "where its configuration and its upload state live"),
    ("`LOA_CACHE_DIR`", "`make run`, the tests", "the cache folder (default `.cache/` in the repository)"),
)
OTHER = "## Outside the settings classes\n\n| variable | read by | what |\n|---|---|---|\n" + "".join(
    f"| {name} | {reader} | {what} |\n" for name, reader, what in OUTSIDE
)


def render(classes: list[SettingsClass]) -> str:
    parts = [HEADER]
    for settings_class in classes:
        common = settings_class.module == COMMON_MODULE
        title = "Common settings (every service)" if common else f"{settings_class.module.split('.')[0]}"
        parts.append(f"## {title}\n")
        parts.append(f"`{settings_class.module}.{settings_class.name}`\n")
        parts.append("| variable | type | default | description |\n|---|---|---|---|")
        for s in settings_class.settings:
            description = s.description + (" *(overrides the common default)*" if s.overrides_common else "")
            names = f"`{s.env}`" + "".join(f" (or `{alias}`)" for alias in s.aliases)
            parts.append(f"| {names} | {_cell(s.type)} | {_cell(s.default)} | {_cell(description.strip())} |")
        parts.append("")
    parts.append(OTHER)
    return "\n".join(parts)


def main() -> None:
    sys.stdout.write(render(collect()))


if __name__ == "__main__":
    main()
