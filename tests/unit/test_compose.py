"""The Docker deployment files, checked without a Docker engine (CI has none).

docker-compose.yml is validated against the official Compose Specification JSON schema that
check-jsonschema vendors (`check-jsonschema --builtin-schema vendor.compose-spec`). The other
tests check what a schema cannot: our services have healthchecks, paths on the host exist,
ports agree across files, and no secret is written into the repository.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from loa_archiver.settings import ArchiverSettings
from loa_core.settings import CommonSettings
from loa_dev.configref import variables_read
from loa_ingest.settings import IngestSettings
from loa_metrics.settings import MetricsSettings
from loa_publisher.settings import PublisherSettings
from loa_transcode.settings import TranscodeSettings
from tests.support.compose import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    REPO,
    ComposeError,
    dockerfile_env,
    dockerfile_instructions,
    dockerfile_of,
    dotenv_assignments,
    environment_of,
    interpolate,
    interpolate_text,
    launch,
    load_compose,
    load_yaml,
    mounts_of,
    required_variables,
    secrets_of,
    variables_used,
)

PROMETHEUS_CONFIG = REPO / "deploy" / "prometheus" / "prometheus.yml"
GRAFANA_DASHBOARD_PROVIDER = REPO / "deploy" / "grafana" / "provisioning" / "dashboards" / "loa.yml"

# Loa's own services and the port each one serves /healthz, /readyz and /metrics on.
LOA_SERVICES = {"ingest": 8001, "transcode": 8002, "publisher": 8003, "metrics": 8004, "archiver": 8006}
# What each service reads its settings with.
SETTINGS: dict[str, type[CommonSettings]] = {
    "ingest": IngestSettings,
    "transcode": TranscodeSettings,
    "publisher": PublisherSettings,
    "metrics": MetricsSettings,
    "archiver": ArchiverSettings,
}
# Only these run ffmpeg/ffprobe; the other images stay without it.
FFMPEG_SERVICES = {"ingest", "transcode", "archiver"}

# Environment keys whose value is a secret: it must come from outside the repository.
# A key naming where secrets are (LOA_SECRETS_DIR, CHANNEL_SECRETS_DIR, LOA_SECRET_KEY_FILE) holds a path, not a
# secret.
SECRET_KEY = re.compile(r"^(?!.*_(?:DIR|FILE)$).*(SECRET|PASSWORD|TOKEN)", re.IGNORECASE)
# The only accepted value for such a key: a whole `${VAR}` reference, optionally `${VAR:?message}`.
# `${VAR:-default}` is refused on purpose: its default would be a secret literal in the repo.
SECRET_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?\?[^}]*)?\}")
# user:password@ inside a URL (e.g. a future postgresql:// DSN) leaks whatever the key is called.
URL_CREDENTIALS = re.compile(r"://[^/\s:@]+:(?P<password>[^/\s@]+)@")


# --- Helpers (pure, so the negative tests below can prove each check fails when it should) ---


def validate_against_compose_spec(path: Path) -> subprocess.CompletedProcess[str]:
    """`check-jsonschema --builtin-schema vendor.compose-spec <path>`, through this interpreter's install."""
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def our_services(compose: dict[str, Any]) -> list[str]:
    """Loa's services, and any service built from this repository (so a new one cannot slip by)."""
    services = compose.get("services") or {}
    return sorted(name for name, spec in services.items() if name in LOA_SERVICES or "build" in spec)


def services_without_healthcheck(compose: dict[str, Any]) -> list[str]:
    services = compose["services"]
    return [
        name
        for name in our_services(compose)
        if not (services[name].get("healthcheck") or {}).get("test") or services[name]["healthcheck"].get("disable")
    ]


def missing_dockerfiles(compose: dict[str, Any], base: Path) -> list[str]:
    return [
        f"{name}: {dockerfile_of(spec, base)}"
        for name, spec in (compose.get("services") or {}).items()
        if "build" in spec and not dockerfile_of(spec, base).is_file()
    ]


def bind_sources(compose: dict[str, Any]) -> list[tuple[str, str]]:
    """(service, host path) of every bind mount, in short ("./a:/b:ro") or long (type: bind) syntax."""
    sources = [
        (name, source)
        for name, spec in (compose.get("services") or {}).items()
        for kind, source, _ in mounts_of(spec)
        if kind == "bind"
    ]
    # Top-level configs and secrets read from files are bind mounts too.
    for section in ("configs", "secrets"):
        for name, spec in (compose.get(section) or {}).items():
            if spec and "file" in spec:
                sources.append((f"{section}.{name}", spec["file"]))
    return sources


def missing_bind_sources(compose: dict[str, Any], base: Path) -> list[str]:
    return [f"{owner}: {source}" for owner, source in bind_sources(compose) if not (base / source).exists()]


def operator_files(compose: dict[str, Any]) -> set[str]:
    """Top-level secrets read from a file the operator must name in .env (`file: ${VAR:?…}`): made on the host,
    never in the repository, so Compose refuses to start without one."""
    return {
        name
        for name, spec in (compose.get("secrets") or {}).items()
        if spec and "file" in spec and required_variables({"file": spec["file"]})
        and SECRET_REFERENCE.fullmatch(spec["file"])
    }  # fmt: skip


def secret_literals(compose: dict[str, Any]) -> list[str]:
    """service.KEY of each environment value that writes a secret into the file instead of referencing one."""
    found = []
    for name, spec in (compose.get("services") or {}).items():
        for key, value in environment_of(spec).items():
            if value is None:  # `KEY` alone passes the host's value through: nothing written here.
                continue
            text = str(value)
            if SECRET_KEY.search(key) and not SECRET_REFERENCE.fullmatch(text):
                found.append(f"{name}.{key}")
            credentials = URL_CREDENTIALS.search(text)
            if credentials and not SECRET_REFERENCE.fullmatch(credentials.group("password")):
                found.append(f"{name}.{key} (password in URL)")
    return found


# --- The real files ---


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose(COMPOSE_FILE)


@pytest.fixture(scope="module")
def compose_with_defaults(compose: dict[str, Any]) -> dict[str, Any]:
    """The file as Compose sees it with .env.example's values (blank: the defaults) and every required value set."""
    example = dotenv_assignments(ENV_EXAMPLE.read_text(encoding="utf-8"))
    document: dict[str, Any] = interpolate(compose, {**example, **dict.fromkeys(required_variables(compose), "set")})
    return document


def test_compose_file_matches_the_compose_specification() -> None:
    result = validate_against_compose_spec(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "validation done" in result.stdout


def test_all_four_services_are_in_compose_and_built_from_their_dockerfile(compose: dict[str, Any]) -> None:
    assert our_services(compose) == sorted(LOA_SERVICES)
    for name in LOA_SERVICES:
        build = compose["services"][name]["build"]
        assert build == {"context": ".", "dockerfile": f"services/{name}/Dockerfile"}


def test_our_services_have_healthchecks(compose: dict[str, Any]) -> None:
    assert services_without_healthcheck(compose) == []
    for name in our_services(compose):
        assert "/healthz" in " ".join(compose["services"][name]["healthcheck"]["test"])


def test_every_dependency_waits_for_a_condition(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, spec in services.items():
        depends_on = spec.get("depends_on") or {}
        # The list form only orders container starts; it does not wait for health.
        assert isinstance(depends_on, dict), f"{name}: depends_on must use the long form with a condition"
        for dependency, options in depends_on.items():
            expected = "service_completed_successfully" if dependency == "minio-init" else "service_healthy"
            assert options.get("condition") == expected, f"{name} -> {dependency}"
            if expected == "service_healthy":
                assert services[dependency].get("healthcheck"), f"{name} waits on {dependency}, which has none"
    for name in LOA_SERVICES:
        assert "kafka" in services[name]["depends_on"], name


def test_services_use_s3_on_minio(compose: dict[str, Any]) -> None:
    for name in LOA_SERVICES:
        env = environment_of(compose["services"][name])
        assert env["LOA_KAFKA_BOOTSTRAP"] == "kafka:9092"
        if name == "metrics":
            # metrics reads events only: it is given no storage credentials at all.
            assert not any(key.startswith(("LOA_S3_", "LOA_STORAGE_")) for key in env)
        else:
            assert env["LOA_STORAGE_BACKEND"] == "s3"
            assert env["LOA_S3_ENDPOINT_URL"] == "http://minio:9000"


@pytest.mark.parametrize("service", ["metrics", "archiver", "publisher"])
def test_services_ask_ingest_about_role_tokens_on_its_port(compose: dict[str, Any], service: str) -> None:
    env = environment_of(compose["services"][service])
    ingest_port = environment_of(compose["services"]["ingest"])["LOA_HTTP_PORT"]
    assert env["LOA_INGEST_URL"] == f"http://ingest:{ingest_port}"


def test_ingest_relays_status_from_metrics_on_its_port(compose: dict[str, Any]) -> None:
    metrics_port = environment_of(compose["services"]["metrics"])["LOA_HTTP_PORT"]
    assert environment_of(compose["services"]["ingest"])["LOA_METRICS_URL"] == f"http://metrics:{metrics_port}"


def test_every_service_reads_the_one_mounted_channels_file(compose_with_defaults: dict[str, Any]) -> None:
    for name in LOA_SERVICES:
        service = compose_with_defaults["services"][name]
        target = environment_of(service)["LOA_CHANNELS_FILE"]
        mounted = {t: s for kind, s, t in mounts_of(service) if kind == "bind"}
        assert mounted.get(target) == "./deploy/compose/channels.json", name
    default = json.loads((REPO / "deploy" / "compose" / "channels.json").read_text(encoding="utf-8"))
    assert [channel["name"] for channel in default] == ["local"]


def test_the_publisher_reads_channel_secrets_from_a_read_only_mount(compose: dict[str, Any]) -> None:
    publisher = compose["services"]["publisher"]
    target = environment_of(publisher)["LOA_SECRETS_DIR"]
    [mount] = [v for v in publisher["volumes"] if isinstance(v, dict) and v["target"] == target]
    assert mount["type"] == "bind" and mount["read_only"] is True
    # Outside the publisher, nothing sees the channels' credentials.
    for name in set(LOA_SERVICES) - {"publisher"}:
        assert all(t != target for _, _, t in mounts_of(compose["services"][name])), name


def test_the_secret_key_is_a_file_given_only_to_the_services_that_keep_secrets(compose: dict[str, Any]) -> None:
    """ingest and the publisher refuse to start without the operator's key (loa_core.secrets): each gets the compose
    secret and LOA_SECRET_KEY_FILE naming where it is mounted; no service gets a key as a variable."""
    for name in LOA_SERVICES:
        service = compose["services"][name]
        env = environment_of(service)
        assert "LOA_SECRET_KEY" not in env, name
        mounted = dict(secrets_of(service))
        if name in {"ingest", "publisher"}:
            assert env["LOA_SECRET_KEY_FILE"] == mounted["loa-secret-key"] == "/run/secrets/loa-secret-key", name
        else:
            assert "LOA_SECRET_KEY_FILE" not in env and not mounted, name
    assert compose["secrets"]["loa-secret-key"]["file"].startswith("${SECRET_KEY_FILE:?")


def test_the_publisher_metrics_and_ingest_share_the_service_token_and_ingest_knows_its_public_url(
    compose: dict[str, Any],
) -> None:
    ingest, publisher, metrics = (environment_of(compose["services"][n]) for n in ("ingest", "publisher", "metrics"))
    required = required_variables(compose)
    assert publisher["LOA_SERVICE_TOKEN"].startswith("${LOA_SERVICE_TOKEN:?")
    assert metrics["LOA_SERVICE_TOKEN"].startswith("${LOA_SERVICE_TOKEN:?")
    assert ingest["LOA_SERVICE_TOKEN_HASHES"].startswith("${LOA_SERVICE_TOKEN_HASHES:?")
    # Metrics takes connected TikTok and Zalo channels' access tokens from the publisher, with the same token.
    assert publisher["LOA_SERVICE_TOKEN_HASHES"].startswith("${LOA_SERVICE_TOKEN_HASHES:?")
    assert metrics["LOA_PUBLISHER_URL"] == "http://publisher:8003"
    assert ingest["LOA_PUBLIC_URL"].startswith("${LOA_PUBLIC_URL:?")
    assert {"LOA_SERVICE_TOKEN", "LOA_SERVICE_TOKEN_HASHES", "LOA_PUBLIC_URL", "SECRET_KEY_FILE"} <= required
    # Only the services that act for a channel (the publisher posts, metrics polls) hold the token itself.
    for name in set(LOA_SERVICES) - {"publisher", "metrics"}:
        assert "LOA_SERVICE_TOKEN" not in environment_of(compose["services"][name]), name
    # The platform apps are optional: a blank leaves a platform unconnectable, never stops Compose.
    apps = {key for key in ingest if key.startswith(("LOA_YOUTUBE_", "LOA_TIKTOK_", "LOA_FACEBOOK_", "LOA_ZALO_"))}
    assert len(apps) == 8 and not apps & required


def test_every_variable_a_loa_service_gets_is_one_its_settings_read(compose: dict[str, Any]) -> None:
    """A misspelt or retired variable (LOA_METRICS_TOKEN) would be ignored silently by the service: refuse it here."""
    for name in LOA_SERVICES:
        known = variables_read(SETTINGS[name])
        unknown = set(environment_of(compose["services"][name])) - known
        assert not unknown, f"{name} gets {sorted(unknown)}, which {SETTINGS[name].__name__} never reads"


def test_every_dockerfile_in_compose_exists(compose: dict[str, Any]) -> None:
    assert missing_dockerfiles(compose, REPO) == []


def test_every_bind_mount_source_exists_in_the_repo(
    compose: dict[str, Any], compose_with_defaults: dict[str, Any]
) -> None:
    # The operator's own files (the secret key) are the exception: outside the repository on purpose.
    operators = {f"secrets.{name}" for name in operator_files(compose)}
    assert operators == {"secrets.loa-secret-key"}
    in_repo = {
        **compose_with_defaults,
        "secrets": {
            k: v for k, v in (compose_with_defaults.get("secrets") or {}).items() if f"secrets.{k}" not in operators
        },
    }
    assert bind_sources(in_repo), "expected the Prometheus and Grafana configuration to be bind-mounted"
    assert missing_bind_sources(in_repo, REPO) == []
    for _, source in bind_sources(in_repo):
        # Inside the repository, so the stack runs the same from any clone.
        assert (REPO / source).resolve().is_relative_to(REPO), source


def test_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, spec in compose["services"].items():
        for volume in spec.get("volumes") or []:
            if isinstance(volume, str) and not volume.startswith((".", "/", "~")):
                assert volume.split(":", 1)[0] in declared, f"{name}: {volume}"
    for name in LOA_SERVICES:
        assert f"{name}-data:/data" in compose["services"][name]["volumes"]


def test_no_secret_literal_in_compose(compose: dict[str, Any]) -> None:
    assert secret_literals(compose) == []
    # The check has something to look at: the secrets really are passed, as references.
    checked = [key for spec in compose["services"].values() for key in environment_of(spec) if SECRET_KEY.search(key)]
    assert "LOA_S3_SECRET_KEY" in checked and "MINIO_ROOT_PASSWORD" in checked


def test_env_example_documents_every_variable_and_holds_no_secret(compose: dict[str, Any]) -> None:
    example = dotenv_assignments(ENV_EXAMPLE.read_text(encoding="utf-8"))
    assert variables_used(compose) - set(example) == set()
    for key, value in example.items():
        if SECRET_KEY.search(key):
            assert value == "", f".env.example must leave {key} empty (a placeholder to fill in)"


def test_dotenv_is_git_ignored() -> None:
    # Exit 0 means ignored. Asked of git itself, so any .gitignore pattern that matches counts.
    result = subprocess.run(["git", "check-ignore", "--quiet", ".env"], cwd=REPO, check=False)
    assert result.returncode == 0, ".env must be git-ignored: it holds the deployment's secrets"


@pytest.mark.parametrize("name", sorted(LOA_SERVICES))
def test_dockerfile_follows_the_shared_shape(name: str) -> None:
    path = REPO / "services" / name / "Dockerfile"
    instructions = dockerfile_instructions(path)
    keywords = [keyword for keyword, _ in instructions]
    arguments = {keyword: args for keyword, args in instructions}  # the last of each kind

    assert arguments["FROM"].startswith("python:3.11-slim")
    assert "USER" in keywords and arguments["USER"] not in {"root", "0"}
    # The process runs as the last USER; nothing after it may switch back.
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k == "RUN")
    assert "/healthz" in arguments["HEALTHCHECK"] and "CMD" in arguments["HEALTHCHECK"]
    assert arguments["CMD"] == f'["python", "-m", "loa_{name}"]'

    env = dockerfile_env(instructions)
    assert env["LOA_HTTP_PORT"] == str(LOA_SERVICES[name])
    # loa_core binds 127.0.0.1 by default, unreachable from outside the container.
    assert env["LOA_HTTP_HOST"] == "0.0.0.0"
    assert arguments["EXPOSE"] == str(LOA_SERVICES[name])

    copies = [args.split() for keyword, args in instructions if keyword == "COPY"]
    assert ["libs/loa_core", "/src/libs/loa_core"] in copies
    assert [f"services/{name}", f"/src/services/{name}"] in copies
    for *sources, _ in copies:
        if sources[0].startswith("--from="):
            continue  # from an earlier build stage (ingest's web assets), not from the build context
        for source in sources:
            assert (REPO / source).exists(), source  # the build context is the repository root

    installs_ffmpeg = any(k == "RUN" and "apt-get install" in a and "ffmpeg" in a for k, a in instructions)
    assert installs_ffmpeg == (name in FFMPEG_SERVICES)


def test_ports_agree_across_compose_dockerfiles_and_prometheus(compose: dict[str, Any]) -> None:
    config = load_yaml(PROMETHEUS_CONFIG)
    targets = {t for job in config["scrape_configs"] for group in job["static_configs"] for t in group["targets"]}
    for name, port in LOA_SERVICES.items():
        service = compose["services"][name]
        assert environment_of(service)["LOA_HTTP_PORT"] == str(port)
        assert any(str(mapping).endswith(f"{port}:{port}") for mapping in service["ports"]), name
        assert f"{name}:{port}" in targets


def test_grafana_reads_dashboards_where_compose_mounts_them(compose: dict[str, Any]) -> None:
    provider = load_yaml(GRAFANA_DASHBOARD_PROVIDER)
    [dashboards_path] = [p["options"]["path"] for p in provider["providers"]]
    assert f"./deploy/grafana/dashboards:{dashboards_path}:ro" in compose["services"]["grafana"]["volumes"]
    datasources = load_yaml(REPO / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml")
    assert [d["url"] for d in datasources["datasources"]] == ["http://prometheus:9090"]


# --- Negative tests: each check above can fail ---


@pytest.mark.parametrize(
    ("broken", "complaint"),
    [
        # A misspelt key: the schema forbids unknown service properties.
        ("services:\n  ingest:\n    image: loa-ingest\n    helthcheck: {test: [CMD, 'true']}\n", "helthcheck"),
        # A condition Compose does not know.
        (
            "services:\n  ingest:\n    image: loa-ingest\n    depends_on:\n      kafka: {condition: when_ready}\n",
            "when_ready",
        ),
        # A wrong type.
        ("services:\n  ingest:\n    image: loa-ingest\n    init: [yes]\n", "init"),
    ],
)
def test_schema_validation_rejects_a_broken_compose_file(tmp_path: Path, broken: str, complaint: str) -> None:
    path = tmp_path / "docker-compose.yml"
    path.write_text(broken, encoding="utf-8")
    result = validate_against_compose_spec(path)
    output = result.stdout + result.stderr
    # Exit 1 with a validation report, not a crash of the tool (which would also be non-zero).
    assert result.returncode == 1, output
    assert "Schema validation errors were encountered" in output
    assert complaint in output


def test_checks_report_a_broken_compose_document(tmp_path: Path) -> None:
    broken = {
        "services": {
            "ingest": {"build": {"context": ".", "dockerfile": "services/ingest/Dockerfile.missing"}},
            "newcomer": {"build": "."},
            "transcode": {
                "image": "loa-transcode",
                "healthcheck": {"test": ["CMD", "true"], "disable": True},
                "volumes": ["./no/such/dir:/etc/x:ro", "named-volume:/data"],
                "environment": [
                    "LOA_S3_SECRET_KEY=hunter2hunter2",
                    "LOA_API_TOKEN_HASHES=${LOA_API_TOKEN_HASHES:-0123abcd}",
                    "PASSTHROUGH_PASSWORD",
                    "LOA_SECRETS_DIR=/run/secrets/loa",
                    "LOA_SECRET_DIR_TOKEN=s3cr3t",
                    "LOA_SECRET_KEY_FILE=/run/secrets/loa-secret-key",
                ],
            },
            "publisher": {
                "image": "loa-publisher",
                "healthcheck": {"test": ["CMD", "true"]},
                "environment": {
                    "LOA_LEDGER_URL": "postgresql://loa:s3cret@db/loa",
                    "GF_SECURITY_ADMIN_PASSWORD": "${GRAFANA_ADMIN_PASSWORD}",
                },
            },
        },
        "secrets": {"api": {"file": "./no/such/secret.txt"}},
    }
    assert services_without_healthcheck(broken) == ["ingest", "newcomer", "transcode"]
    assert missing_dockerfiles(broken, tmp_path) == [
        f"ingest: {tmp_path / 'services' / 'ingest' / 'Dockerfile.missing'}",
        f"newcomer: {tmp_path / 'Dockerfile'}",
    ]
    assert missing_bind_sources(broken, tmp_path) == [
        "transcode: ./no/such/dir",
        "secrets.api: ./no/such/secret.txt",
    ]
    assert secret_literals(broken) == [
        "transcode.LOA_S3_SECRET_KEY",
        "transcode.LOA_API_TOKEN_HASHES",
        "transcode.LOA_SECRET_DIR_TOKEN",
        "publisher.LOA_LEDGER_URL (password in URL)",
    ]


def test_variable_and_dotenv_parsing() -> None:
    document = {"a": ["${ONE:?msg}", "$TWO and $${NOT_ME}", {"b": "${THREE:-x}"}], "c": 5}
    assert variables_used(document) == {"ONE", "TWO", "THREE"}
    assert dotenv_assignments("# comment\nA=\n B = 2 \n\n") == {"A": "", "B": "2"}


def test_interpolation_follows_compose() -> None:
    env = {"SET": "v", "EMPTY": ""}
    cases = {
        "${SET}/$SET/$$SET": "v/v/$SET",
        "${SET:-d} ${EMPTY:-d} ${EMPTY-d} ${UNSET-d}": "v d  d",
        "${SET:+r}|${EMPTY:+r}|${EMPTY+r}|${UNSET+r}": "r||r|",
        "${UNSET}": "",  # Compose warns and uses a blank
        "${SET:?msg} ${EMPTY?msg}": "v ",
    }
    for text, expected in cases.items():
        assert interpolate_text(text, env) == expected, text
    for text in ("${EMPTY:?set EMPTY}", "${UNSET?set UNSET}"):
        with pytest.raises(ComposeError, match="required variable"):
            interpolate_text(text, env)
    assert required_variables({"a": ["${A:?x}", "${B?y}", "${C:-z}", "$D"]}) == {"A", "B"}


def test_launch_refuses_what_it_cannot_place(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "FROM python:3.11-slim\nENV LOA_HTTP_PORT=8001 LOA_CACHE=/cache\nWORKDIR /data\nEXPOSE 8001\n"
        'CMD ["python", "-m", "loa_ingest"]\n'
    )
    service = {"build": {"context": "."}, "volumes": ["vol:/data"], "environment": {"LOA_X": "http://other:9000"}}
    compose = {"services": {"ingest": service, "other": {"image": "x"}}}
    options: dict[str, Any] = {
        "endpoints": {"other:9000": "127.0.0.1:5000"},
        "ports": {8001: 5001},
        "volumes": {"vol": tmp_path / "vol"},
        "image_paths": {"/cache": tmp_path / "cache"},
        "base_env": {"PATH": "/bin"},
        "base": tmp_path,
    }
    plan = launch(compose, "ingest", **options)
    assert plan.argv == [sys.executable, "-m", "loa_ingest"] and plan.cwd == tmp_path / "vol"
    assert plan.env == {
        "PATH": "/bin",
        "LOA_HTTP_PORT": "5001",
        "LOA_CACHE": str(tmp_path / "cache"),
        "LOA_X": "http://127.0.0.1:5000",
    }
    with pytest.raises(ComposeError, match="other:9000"):
        launch(compose, "ingest", **{**options, "endpoints": {}})
    with pytest.raises(ComposeError, match="/cache"):
        launch(compose, "ingest", **{**options, "image_paths": {}})
    with pytest.raises(ComposeError, match="8001"):
        launch(compose, "ingest", **{**options, "ports": {}})


def test_launch_places_a_secret_at_its_file(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text('FROM python:3.11-slim\nWORKDIR /data\nEXPOSE 8001\nCMD ["python", "-m", "x"]')
    env = {"LOA_A": "/run/secrets/key", "LOA_B": "/etc/other-key"}
    secrets = ["key", {"source": "other", "target": "/etc/other-key"}]
    service = {"build": ".", "environment": env, "secrets": secrets, "volumes": ["vol:/data"]}
    compose = {"services": {"ingest": service}, "secrets": {"key": {"file": "./k"}, "other": {"file": "/o"}}}
    options: dict[str, Any] = {
        "endpoints": {}, "ports": {8001: 5001}, "volumes": {"vol": tmp_path}, "image_paths": {}, "base_env": {},
        "base": tmp_path,
    }  # fmt: skip
    plan = launch(compose, "ingest", **options)
    assert (plan.env["LOA_A"], plan.env["LOA_B"]) == (str(tmp_path / "k"), "/o")
    assert secrets_of(service) == [("key", "/run/secrets/key"), ("other", "/etc/other-key")]
    # A secret Docker makes from the environment (or an external one) has no file here: refused, not guessed.
    compose["secrets"]["key"] = {"environment": "KEY"}
    with pytest.raises(ComposeError, match="secret key"):
        launch(compose, "ingest", **options)
