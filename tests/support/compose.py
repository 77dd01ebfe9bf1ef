"""docker-compose.yml and the services' Dockerfiles, read the way Docker reads them, for tests without a Docker engine.

One reader for both uses: tests/unit/test_compose.py checks the files' shape, tests/e2e/test_compose_stack.py starts
every Loa service as a process with exactly what compose gives its container (`launch`).
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"

# Variables Compose interpolates from .env: ${VAR...} or $VAR, but not the escaped $$.
VARIABLE_USE = re.compile(r"(?<!\$)\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")
# One interpolation as Compose writes it: $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error},
# ${VAR?error}, ${VAR:+replacement}, ${VAR+replacement}.
_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
    r"|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\})"
)


class ComposeError(ValueError):
    """What `docker compose up` would refuse, or what the file asks of a container that has no host counterpart."""


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_compose(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    document = load_yaml(path)
    if not isinstance(document, dict):
        raise ComposeError(f"{path}: not a mapping")
    return document


def dotenv_assignments(text: str) -> dict[str, str]:
    pairs = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def interpolate_text(text: str, variables: Mapping[str, str]) -> str:
    """One string as Compose interpolates it; `${VAR:?message}` with VAR unset or empty raises ComposeError."""

    def substitute(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        name = match.group("bare") or match.group("name")
        op, arg = match.group("op"), match.group("arg") or ""
        value = variables.get(name)
        # With a colon, an empty value counts as unset (as in the shell).
        present = value is not None and (value != "" or not (op or "").startswith(":"))
        if op in ("-", ":-"):
            return value if present and value is not None else arg
        if op in ("?", ":?"):
            if not present or value is None:
                raise ComposeError(f"required variable {name} is missing a value: {arg}")
            return value
        if op in ("+", ":+"):
            return arg if present else ""
        return value or ""  # Compose warns and uses a blank string

    return _INTERPOLATION.sub(substitute, text)


def interpolate(node: Any, variables: Mapping[str, str]) -> Any:
    """Every string value of a parsed compose document interpolated (keys are not, as in Compose)."""
    if isinstance(node, str):
        return interpolate_text(node, variables)
    if isinstance(node, dict):
        return {key: interpolate(value, variables) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(item, variables) for item in node]
    return node


def strings_in(node: Any) -> list[str]:
    """Every string value in a parsed YAML document (comments are already gone)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in strings_in(value)]
    if isinstance(node, list):
        return [s for item in node for s in strings_in(item)]
    return []


def variables_used(compose: dict[str, Any]) -> set[str]:
    names = set()
    for text in strings_in(compose):
        for match in VARIABLE_USE.finditer(text):
            names.add(match.group("braced") or match.group("bare"))
    return names


def required_variables(compose: dict[str, Any]) -> set[str]:
    """Variables Compose refuses to start without (`${VAR:?…}` or `${VAR?…}`)."""
    return {
        match.group("name")
        for text in strings_in(compose)
        for match in _INTERPOLATION.finditer(text)
        if (match.group("op") or "").endswith("?")
    }


def environment_of(service: dict[str, Any]) -> dict[str, Any]:
    """A service's environment as a mapping; Compose also accepts a list of KEY=VALUE strings."""
    env = service.get("environment") or {}
    if isinstance(env, dict):
        return env
    pairs: dict[str, Any] = {}
    for item in env:
        key, sep, value = str(item).partition("=")
        pairs[key] = value if sep else None
    return pairs


def dockerfile_of(service: dict[str, Any], base: Path = REPO) -> Path:
    """`build.dockerfile` is relative to `build.context`, which is relative to the compose file."""
    build = service["build"]
    if isinstance(build, str):
        build = {"context": build}
    return base / build.get("context", ".") / build.get("dockerfile", "Dockerfile")


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with comments dropped and backslash continuations joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The instructions of the image's own stage (after the last FROM): earlier stages only feed COPY --from."""
    starts = [i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    return instructions[starts[-1] :] if starts else instructions


def dockerfile_env(instructions: list[tuple[str, str]]) -> dict[str, str]:
    env = {}
    for keyword, arguments in final_stage(instructions):
        if keyword == "ENV":
            for pair in shlex.split(arguments):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def _exec_form(arguments: str) -> list[str]:
    """CMD/ENTRYPOINT arguments: the JSON (exec) form, else the shell form Docker runs with /bin/sh -c."""
    if arguments.startswith("["):
        argv = json.loads(arguments)
        assert isinstance(argv, list) and all(isinstance(a, str) for a in argv)
        return argv
    return ["/bin/sh", "-c", arguments]


def _as_argv(value: str | list[str]) -> list[str]:
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def container_command(service: dict[str, Any], instructions: list[tuple[str, str]]) -> list[str]:
    """What the container runs: compose's entrypoint/command over the image's ENTRYPOINT/CMD (an entrypoint set in
    compose drops the image's CMD, as Docker does)."""
    image = {keyword: arguments for keyword, arguments in final_stage(instructions)}  # the last of each kind
    if "entrypoint" in service:
        entrypoint = _as_argv(service["entrypoint"])
        command = _as_argv(service["command"]) if "command" in service else []
    else:
        entrypoint = _exec_form(image["ENTRYPOINT"]) if "ENTRYPOINT" in image else []
        if "command" in service:
            command = _as_argv(service["command"])
        else:
            command = _exec_form(image["CMD"]) if "CMD" in image else []
    argv = entrypoint + command
    if not argv:
        raise ComposeError("the container has no command: neither compose nor the image gives one")
    return argv


def container_ports(service: dict[str, Any], instructions: list[tuple[str, str]]) -> set[int]:
    """Ports the container listens on: the targets of `ports:` (short or long syntax) and the image's EXPOSE."""
    ports = set()
    for mapping in service.get("ports") or []:
        if isinstance(mapping, dict):
            ports.add(int(mapping["target"]))
        else:
            ports.add(int(str(mapping).rsplit(":", 1)[-1].split("/")[0]))
    for keyword, arguments in final_stage(instructions):
        if keyword == "EXPOSE":
            ports.update(int(port.split("/")[0]) for port in arguments.split())
    return ports


def ports_of(compose: dict[str, Any], name: str, base: Path = REPO) -> set[int]:
    """The container ports of compose service `name`, built from a Dockerfile of this repository."""
    service = compose["services"][name]
    return container_ports(service, dockerfile_instructions(dockerfile_of(service, base)))


def mounts_of(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(type, source, container path) of every volume, short ("src:/dst:ro") or long syntax; type is "volume" for
    a named volume and "bind" for a host path."""
    mounts = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
            kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        else:
            kind, source, target = volume["type"], volume.get("source", ""), volume["target"]
        mounts.append((kind, source, target))
    return mounts


def secrets_of(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(secret name, container path) of every secret a service is given, short ("name") or long syntax; Compose
    mounts one at /run/secrets/<target>, the target defaulting to the secret's name."""
    mounted = []
    for secret in service.get("secrets") or []:
        source, target = (secret, secret) if isinstance(secret, str) else (secret["source"], secret.get("target"))
        target = target or source
        mounted.append((source, target if target.startswith("/") else f"/run/secrets/{target}"))
    return mounted


def secret_file(compose: dict[str, Any], name: str, base: Path = REPO) -> Path:
    """The host file of top-level secret `name` (only `file:` secrets exist without Docker)."""
    spec = (compose.get("secrets") or {}).get(name) or {}
    if "file" not in spec:
        raise ComposeError(f"secret {name} is not declared with a file at the top level")
    return (base / spec["file"]).resolve()


@dataclass(frozen=True)
class Launch:
    """One compose service as a process: the command, the environment and the working directory of its container,
    with the container's hosts, ports and paths replaced by their counterparts on this machine."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    ports: dict[int, int]  # container port -> the host port it listens on here


_HOST_PORT = re.compile(r"(?<![\w.-])(?P<host>[a-z][a-z0-9-]*):(?P<port>\d+)\b")


def _replace_endpoints(value: str, endpoints: Mapping[str, str], hosts: set[str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        if match.group("host") not in hosts:
            return match.group(0)
        if match.group(0) not in endpoints:
            raise ComposeError(f"{value!r} names {match.group(0)}, which this run does not provide")
        return endpoints[match.group(0)]

    return _HOST_PORT.sub(substitute, value)


def _host_path(path: str, paths: Mapping[str, Path]) -> str:
    container = PurePosixPath(path)
    for prefix in sorted(paths, key=len, reverse=True):
        if container == PurePosixPath(prefix) or PurePosixPath(prefix) in container.parents:
            return str(paths[prefix] / container.relative_to(prefix))
    raise ComposeError(f"the container path {path} is neither mounted nor mapped to a path on this machine")


def launch(
    compose: dict[str, Any],
    name: str,
    *,
    endpoints: Mapping[str, str],
    ports: Mapping[int, int],
    volumes: Mapping[str, Path],
    image_paths: Mapping[str, Path],
    base_env: Mapping[str, str],
    base: Path = REPO,
) -> Launch:
    """How to run compose service `name` (already interpolated) here, as its container would run.

    The environment is the image's ENV overlaid by compose's `environment`, on top of `base_env` (what the base image
    provides: PATH, PYTHONPATH for this checkout). Only three things are substituted, each loudly when unknown:
    - `<service>:<port>` of another compose service becomes `endpoints[...]` (its address here);
    - a value equal to one of this container's own ports becomes the host port given in `ports`;
    - an absolute container path becomes the host path of its mount (`volumes` per named volume, bind sources as
      they are, a secret its top-level file) or of `image_paths` (what the image itself holds).
    The command is the container's, with `python` being this interpreter.
    """
    service = compose["services"][name]
    instructions = dockerfile_instructions(dockerfile_of(service, base))
    own_ports = container_ports(service, instructions)
    if set(ports) != own_ports:
        raise ComposeError(f"{name} listens on {sorted(own_ports)}; host ports given for {sorted(ports)}")
    paths: dict[str, Path] = dict(image_paths)
    for kind, source, target in mounts_of(service):
        paths[target] = volumes[source] if kind == "volume" else (base / source).resolve()
    for secret, target in secrets_of(service):
        paths[target] = secret_file(compose, secret, base)
    hosts = set(compose["services"])

    def translate(value: str) -> str:
        if value.isdigit() and int(value) in own_ports:
            return str(ports[int(value)])
        if value.startswith("/"):
            return _host_path(value, paths)
        return _replace_endpoints(value, endpoints, hosts)

    container_env = {**dockerfile_env(instructions)}
    for key, value in environment_of(service).items():
        if value is None:
            raise ComposeError(f"{name}.{key} passes the host's value through; give it in compose instead")
        container_env[key] = str(value)
    env = {**base_env, **{key: translate(value) for key, value in container_env.items()}}

    argv = container_command(service, instructions)
    if argv[0] == "python":
        argv = [sys.executable, *argv[1:]]
    workdir = next((args for keyword, args in reversed(final_stage(instructions)) if keyword == "WORKDIR"), "/")
    return Launch(argv=argv, env=env, cwd=Path(_host_path(workdir, paths)), ports=dict(ports))
