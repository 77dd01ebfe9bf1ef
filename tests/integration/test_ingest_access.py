"""Access control on the running ingest: roles, revocation, rate limit, size cap, `loa token create`."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from typer.testing import CliRunner

from loa_cli.main import app as cli
from loa_dev.kafka import KafkaBroker
from tests.support.bilingual import assert_bilingual
from tests.support.ingest import IngestProcess, run_ingest, tus_metadata

TUS = {"Tus-Resumable": "1.0.0"}
MAX_BYTES = 50_000_000


@pytest.fixture(scope="module")
def ingest(kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestProcess]:
    env = {"LOA_RATE_LIMIT_PER_S": "0.5", "LOA_RATE_LIMIT_BURST": "20", "LOA_MAX_UPLOAD_BYTES": str(MAX_BYTES)}
    with run_ingest(tmp_path_factory.mktemp("ingest-access"), kafka_broker.bootstrap, env) as process:
        yield process


def _cli(ingest: IngestProcess, token: str, *args: str) -> tuple[int, str]:
    env = {"LOA_INGEST_URL": ingest.url, "LOA_TOKEN": token, "LOA_CLI_CONFIG": "/nonexistent"}
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.stdout


def _create(ingest: IngestProcess, role: str) -> str:
    code, out = _cli(ingest, ingest.token, "token", "create", "--role", role, "--label", f"test {role}")
    assert code == 0, out
    return out.strip().splitlines()[-1]


def _new_upload(ingest: IngestProcess, token: str, length: int = 1000) -> httpx.Response:
    headers = {**TUS, **ingest.headers(token), "Upload-Length": str(length), "Upload-Metadata": tus_metadata(title="t")}
    return httpx.post(f"{ingest.url}/files/", headers=headers)


def test_health_and_metrics_need_no_token(ingest: IngestProcess) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        assert httpx.get(f"{ingest.url}{path}").status_code == 200


def test_missing_or_wrong_token_is_401(ingest: IngestProcess) -> None:
    assert _new_upload(ingest, "not-a-token").status_code == 401
    no_token = httpx.post(f"{ingest.url}/files/", headers={**TUS, "Upload-Length": "10"})
    assert no_token.status_code == 401
    assert httpx.get(f"{ingest.url}/whoami").status_code == 401


def test_roles_decide_what_a_token_may_do(ingest: IngestProcess) -> None:
    uploader = _create(ingest, "editor")
    viewer = _create(ingest, "viewer")
    assert httpx.get(f"{ingest.url}/whoami", headers=ingest.headers(uploader)).json()["role"] == "editor"
    assert _new_upload(ingest, uploader).status_code == 201
    assert _new_upload(ingest, viewer).status_code == 403
    # Only admins make tokens, through the CLI too.
    code, _ = _cli(ingest, uploader, "token", "create", "--role", "district_admin")
    assert code == 1
    assert httpx.get(f"{ingest.url}/tokens", headers=ingest.headers(viewer)).status_code == 403


def test_an_upload_is_visible_to_its_owner_and_admins_only(ingest: IngestProcess) -> None:
    first, second = _create(ingest, "editor"), _create(ingest, "editor")
    location = _new_upload(ingest, first).headers["Location"]
    head = {**TUS}
    assert httpx.head(f"{ingest.url}{location}", headers={**head, **ingest.headers(first)}).status_code == 200
    assert httpx.head(f"{ingest.url}{location}", headers={**head, **ingest.headers(second)}).status_code == 404
    assert httpx.head(f"{ingest.url}{location}", headers={**head, **ingest.headers()}).status_code == 200


def test_revoked_token_stops_working(ingest: IngestProcess) -> None:
    token = _create(ingest, "editor")
    token_id = httpx.get(f"{ingest.url}/whoami", headers=ingest.headers(token)).json()["token_id"]
    code, out = _cli(ingest, ingest.token, "token", "list")
    assert code == 0 and token_id in out and token not in out
    code, _ = _cli(ingest, ingest.token, "token", "revoke", token_id)
    assert code == 0
    assert httpx.get(f"{ingest.url}/whoami", headers=ingest.headers(token)).status_code == 401


def test_rate_limit_is_per_token(ingest: IngestProcess) -> None:
    busy, calm = _create(ingest, "viewer"), _create(ingest, "viewer")
    # The 429 is read from inside the burst: a request sent after it could find a token refilled (0.5/s) on a
    # loaded machine.
    answers = [httpx.get(f"{ingest.url}/whoami", headers=ingest.headers(busy)) for _ in range(25)]
    assert answers[0].status_code == 200
    limited = [a for a in answers if a.status_code == 429]
    assert limited and int(limited[0].headers["Retry-After"]) >= 1
    assert httpx.get(f"{ingest.url}/whoami", headers=ingest.headers(calm)).status_code == 200


def test_upload_size_cap(ingest: IngestProcess) -> None:
    uploader = _create(ingest, "editor")
    too_big = _new_upload(ingest, uploader, length=MAX_BYTES + 1)
    assert too_big.status_code == 413
    assert "larger" in too_big.json()["detail"]
    assert httpx.options(f"{ingest.url}/files/").headers["Tus-Max-Size"] == str(MAX_BYTES)


def test_status_relay_says_so_when_metrics_is_down(ingest: IngestProcess) -> None:
    viewer = _create(ingest, "viewer")
    down = httpx.get(f"{ingest.url}/footage", params={"status": "published"}, headers=ingest.headers(viewer))
    assert down.status_code == 502 and "metrics" in down.json()["detail"]
    assert httpx.get(f"{ingest.url}/footage", headers=ingest.headers("wrong")).status_code == 401
    invalid = httpx.get(f"{ingest.url}/footage?status=nonsense", headers=ingest.headers(viewer))
    assert invalid.status_code == 422
    assert_bilingual(invalid.json()["detail"])
    assert httpx.get(f"{ingest.url}/healthz").status_code == 200


def test_loa_ward_and_account_commands(ingest: IngestProcess) -> None:
    code, out = _cli(ingest, ingest.token, "ward", "create", "phuong-cli", "--name", "Phường Dòng Lệnh")
    assert code == 0, out
    code, out = _cli(ingest, ingest.token, "ward", "list")
    assert code == 0 and "phuong-cli  Phường Dòng Lệnh" in out
    # A generated password is printed once; a prompted one is asked for twice and never printed.
    code, out = _cli(ingest, ingest.token, "account", "create", "qt.cli", "--role", "ward_admin", "--ward",
                     "phuong-cli", "--name", "Quản trị CLI", "--generate-password")  # fmt: skip
    assert code == 0, out
    generated = out.strip().splitlines()[-1]
    assert len(generated) >= 16
    env = {"LOA_INGEST_URL": ingest.url, "LOA_TOKEN": ingest.token, "LOA_CLI_CONFIG": "/nonexistent"}
    typed = "mật-khẩu-gõ-vào-1"
    prompted = CliRunner().invoke(
        cli, ["account", "create", "bt.cli", "--role", "editor", "--ward", "phuong-cli"], env=env,
        input=f"{typed}\n{typed}\n",
    )  # fmt: skip
    assert prompted.exit_code == 0, prompted.output
    assert typed not in prompted.stdout.replace("Password", "")
    code, out = _cli(ingest, ingest.token, "account", "list", "--ward", "phuong-cli")
    assert code == 0
    rows = {line.split()[1]: line for line in out.strip().splitlines()}
    assert set(rows) == {"qt.cli", "bt.cli"} and "ward_admin" in rows["qt.cli"]
    account_id = rows["bt.cli"].split()[0]
    code, out = _cli(ingest, ingest.token, "account", "disable", account_id)
    assert code == 0, out
    code, out = _cli(ingest, ingest.token, "account", "list", "--ward", "phuong-cli")
    assert "disabled" in next(line for line in out.splitlines() if "bt.cli" in line)
    # Refusals say why, in both languages, and exit 1.
    again = CliRunner().invoke(cli, ["account", "disable", account_id], env=env)
    assert again.exit_code == 1
    assert_bilingual(again.stderr.strip())
    taken = CliRunner().invoke(cli, ["ward", "create", "phuong-cli", "--name", "x"], env=env)
    assert taken.exit_code == 1
    assert_bilingual(taken.stderr.strip())
