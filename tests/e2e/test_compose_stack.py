"""docker-compose.yml proven without a Docker engine: every Loa service it builds runs as a process with exactly the
command, environment, ports, mounts and working directory compose gives its container, and an upload goes through
to a published post.

What stands in for Docker, and nothing else:
- the test's .env is .env.example with its blanks filled in (so a new required variable fails here first);
- the compose hosts become loopback addresses: `kafka:9092` and `minio:9000` the session's real broker and MinIO,
  each Loa service `127.0.0.2:<free port>`. 127.0.0.2 reaches a socket bound to 0.0.0.0 but not one bound to
  127.0.0.1, as another container reaches only a service listening on all of its container's interfaces;
- named volumes are fresh folders, bind mounts their sources, the image's own files (ingest's web assets) their
  counterparts in the checkout; `python` is this interpreter, importing this checkout (PYTHONPATH), as the image
  imports its installed copy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from loa_core.auth import hash_token
from loa_core.channels import Channel, dump_channels
from loa_core.contracts.credentials import CREDENTIALS_PATH
from loa_core.secrets import ensure_key_file
from loa_dev.kafka import KafkaBroker, free_port
from loa_dev.processes import stop_processes, wait_healthy
from tests.support.compose import (
    ENV_EXAMPLE,
    REPO,
    Launch,
    dotenv_assignments,
    interpolate,
    launch,
    load_compose,
    ports_of,
)
from tests.support.media import make_clip
from tests.support.minio import MinioServer

pytestmark = pytest.mark.e2e

# What the images hold that no mount provides: ingest's Uppy files (services/ingest/Dockerfile, stage `web`), laid
# out as scripts/setup.sh installs them for development.
IMAGE_PATHS = {"/opt/loa/web-vendor": REPO / ".cache" / "web" / "node_modules"}
# A second channel beside `local`, so the mounted channels file is what every service reads (the embedded default
# knows only `local`).
CHANNELS = [
    Channel(name="local", platform="local", profiles=("youtube",)),
    Channel(name="bang-tin-phuong", platform="local", profiles=("tiktok",)),
]
SERVICE_HOST = "127.0.0.2"
PUBLIC_URL = "http://loa.invalid:8001"
YOUTUBE_CLIENT_ID = "compose-test.apps.googleusercontent.com"


class ComposeStack:
    def __init__(self, root: Path, launches: dict[str, Launch]) -> None:
        self.root = root
        self.launches = launches
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def url(self, name: str) -> str:
        """The service's HTTP server as another container reaches it."""
        return f"http://{SERVICE_HOST}:{self.launches[name].env['LOA_HTTP_PORT']}"

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.root / "logs" / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else "(no log)"
        return f"--- {name}\n" + "\n".join(text.splitlines()[-lines:])

    def logs(self) -> str:
        return "\n".join(self.log_tail(name) for name in self.launches)

    def start(self) -> None:
        (self.root / "logs").mkdir(parents=True)
        for name, plan in self.launches.items():
            with (self.root / "logs" / f"{name}.log").open("ab") as log:
                self.processes[name] = subprocess.Popen(
                    plan.argv, env=plan.env, cwd=plan.cwd, stdout=log, stderr=subprocess.STDOUT
                )

    def wait_healthy(self) -> None:
        for name in self.launches:
            wait_healthy(
                self.processes[name],
                f"{self.url(name)}/healthz",
                name=name,
                log_tail=lambda name=name: self.log_tail(name, 60),
                timeout_s=120,
            )

    def stop(self) -> None:
        stop_processes(self.processes.values(), 30)


def _test_dotenv(kafka_broker: KafkaBroker, minio: MinioServer, token: str, root: Path) -> dict[str, str]:
    """.env.example with every blank a deployment fills in filled in for this run."""
    channels_file = root / "channels.json"
    channels_file.write_text(dump_channels(CHANNELS), encoding="utf-8")
    (root / "channel-secrets").mkdir()
    run = uuid.uuid4().hex[:8]
    service_token = f"service-{uuid.uuid4().hex}"
    filled = {
        # The session's MinIO stands in for the minio service: its administrator is also the services' user
        # (minio-init's least-privilege user needs MinIO's admin API, which the services never use).
        "MINIO_ROOT_USER": minio.access_key,
        "MINIO_ROOT_PASSWORD": minio.secret_key,
        "LOA_S3_ACCESS_KEY": minio.access_key,
        "LOA_S3_SECRET_KEY": minio.secret_key,
        "LOA_S3_BUCKET": f"compose-{run}",
        "LOA_API_TOKEN_HASHES": hash_token(token),
        "SECRET_KEY_FILE": str(ensure_key_file(root / "secret-key")),
        "LOA_SERVICE_TOKEN": service_token,
        "LOA_SERVICE_TOKEN_HASHES": hash_token(service_token),
        # Where a browser would reach ingest, and Loa's YouTube app: a sign-in started is sent back there.
        "LOA_PUBLIC_URL": PUBLIC_URL,
        "LOA_YOUTUBE_CLIENT_ID": YOUTUBE_CLIENT_ID,
        "LOA_YOUTUBE_CLIENT_SECRET": uuid.uuid4().hex,
        "GRAFANA_ADMIN_PASSWORD": uuid.uuid4().hex,  # Grafana is not started, but compose requires it
        "LOA_TOPIC_PREFIX": f"compose{run}.",
        "CHANNELS_FILE": str(channels_file),
        "CHANNEL_SECRETS_DIR": str(root / "channel-secrets"),
    }
    example = dotenv_assignments(ENV_EXAMPLE.read_text(encoding="utf-8"))
    assert set(filled) <= set(example), "fill in only what .env.example documents"
    return {**example, **filled}


def _plan(kafka_broker: KafkaBroker, minio: MinioServer, token: str, root: Path) -> dict[str, Launch]:
    compose = interpolate(load_compose(), _test_dotenv(kafka_broker, minio, token, root))
    ours = [name for name, service in compose["services"].items() if "build" in service]
    ports = {name: {port: free_port() for port in ports_of(compose, name)} for name in ours}
    endpoints = {
        "kafka:9092": kafka_broker.bootstrap,
        "minio:9000": minio.endpoint_url.removeprefix("http://"),
        **{f"{name}:{port}": f"{SERVICE_HOST}:{host}" for name in ours for port, host in ports[name].items()},
    }
    volumes = {name: root / "volumes" / name for name in compose.get("volumes") or {}}
    for folder in volumes.values():
        folder.mkdir(parents=True)
    # What python:3.11-slim itself sets, and this checkout's code (the image has it installed). HOME as the image's
    # user has it: a folder that does not exist.
    base_env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        "LANG": "C.UTF-8",
        "HOME": str(root / "nonexistent"),
    }
    return {
        name: launch(
            compose,
            name,
            endpoints=endpoints,
            ports=ports[name],
            volumes=volumes,
            image_paths=IMAGE_PATHS,
            base_env=base_env,
        )
        for name in ours
    }


@pytest.fixture(scope="module")
def compose_stack(
    kafka_broker: KafkaBroker, minio_server: MinioServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ComposeStack, str]]:
    root = tmp_path_factory.mktemp("compose")
    token = f"compose-{uuid.uuid4().hex}"
    stack = ComposeStack(root, _plan(kafka_broker, minio_server, token, root))
    try:
        stack.start()
        stack.wait_healthy()
        yield stack, token
    finally:
        stack.stop()


def _loa(stack: ComposeStack, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LOA_INGEST_URL": stack.url("ingest"),
        "LOA_METRICS_URL": stack.url("metrics"),
        "LOA_TOKEN": token,
        "LOA_CLI_CONFIG": str(stack.root / "no-cli-config.json"),
    }
    loa = Path(sys.executable).with_name("loa")  # the venv's console script
    return subprocess.run([str(loa), *args], capture_output=True, text=True, env=env, timeout=300, check=False)


def test_every_service_answers_its_healthcheck_from_another_host(compose_stack: tuple[ComposeStack, str]) -> None:
    stack, _ = compose_stack
    # The fixture reached every service's /healthz on SERVICE_HOST: each listens on all interfaces, as it must in a
    # container. compose's own healthcheck, run with the container's environment, passes too.
    compose = load_compose()
    for name, plan in stack.launches.items():
        test = compose["services"][name]["healthcheck"]["test"]
        assert test[0] == "CMD" and test[1] == "python"
        probe = subprocess.run([sys.executable, *test[2:]], env=plan.env, cwd=plan.cwd, timeout=30, check=False)
        assert probe.returncode == 0, stack.log_tail(name)


def test_an_upload_is_published_on_the_mounted_channels(
    compose_stack: tuple[ComposeStack, str], tmp_path: Path
) -> None:
    stack, token = compose_stack
    clip = make_clip(tmp_path / "clip.mp4", width=320, height=180, duration_s=1.0)
    uploaded = _loa(stack, token, "upload", str(clip), "--title", "Họp dân", "--channel", "local",
                    "--channel", "bang-tin-phuong")  # fmt: skip
    assert uploaded.returncode == 0, uploaded.stderr + stack.logs()
    footage_id = uploaded.stdout.strip()

    status = _loa(stack, token, "status", footage_id, "--wait", "--json", "--timeout", "150")
    assert status.returncode == 0, status.stdout + status.stderr + stack.logs()
    view: dict[str, Any] = json.loads(status.stdout)
    assert view["status"] == "published" and view["errors"] == [], view
    posts = view["stages"]["published"]["posts"]
    assert {(p["channel"], p["profile"]) for p in posts} == {("local", "youtube"), ("bang-tin-phuong", "tiktok")}
    published = stack.root / "volumes" / "publisher-data" / "published"
    for post in posts:
        assert Path(httpx.URL(post["url"]).path).is_relative_to(published), post
        assert Path(httpx.URL(post["url"]).path).is_file(), post

    # Ingest's page shows status relayed from metrics: ingest must know where metrics is.
    relayed = httpx.get(
        f"{stack.url('ingest')}/footage/{footage_id}", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert relayed.status_code == 200, relayed.text + stack.log_tail("ingest")
    assert relayed.json()["status"] == "published"

    exported = httpx.get(f"{stack.url('metrics')}/metrics", timeout=10).text
    assert 'loa_posts_published_total{channel="local",platform="local",ward="default"} 1.0' in exported


def test_the_publishers_service_token_is_the_one_ingest_accepts(compose_stack: tuple[ComposeStack, str]) -> None:
    """LOA_SERVICE_TOKEN (publisher) and LOA_SERVICE_TOKEN_HASHES (ingest) are a pair: ingest lets the publisher's
    token read connected channels' credentials (404: `local` has no connection) and refuses a person's token."""
    stack, token = compose_stack
    url = f"{stack.url('ingest')}{CREDENTIALS_PATH}/local"
    service_token = stack.launches["publisher"].env["LOA_SERVICE_TOKEN"]
    accepted = httpx.get(url, headers={"Authorization": f"Bearer {service_token}"}, timeout=10)
    assert accepted.status_code == 404, accepted.text
    refused = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert refused.status_code == 403, refused.text


def test_connecting_a_channel_sends_the_browser_to_the_platform_app_with_the_public_callback(
    compose_stack: tuple[ComposeStack, str],
) -> None:
    """LOA_PUBLIC_URL and the platform app's id and secret reach ingest from compose: a channel's connect starts the
    app's sign-in at Google, asking to come back to <LOA_PUBLIC_URL>/oauth/callback."""
    stack, token = compose_stack
    auth = {"Authorization": f"Bearer {token}"}
    added = httpx.post(
        f"{stack.url('ingest')}/channels", json={"name": "phuong-youtube", "platform": "youtube"}, headers=auth
    )
    assert added.status_code == 201, added.text
    started = httpx.get(f"{stack.url('ingest')}/channels/phuong-youtube/connect", headers=auth, timeout=10)
    assert started.status_code == 302, started.text + stack.log_tail("ingest")
    location = httpx.URL(started.headers["location"])
    assert (location.host, location.path) == ("accounts.google.com", "/o/oauth2/v2/auth")
    assert location.params["client_id"] == YOUTUBE_CLIENT_ID
    assert location.params["redirect_uri"] == f"{PUBLIC_URL}/oauth/callback"
