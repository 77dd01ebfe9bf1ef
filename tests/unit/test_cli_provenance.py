"""`loa provenance …` on ingest's database (SQLite under LOA_DATA_DIR, the operator's key): a ward's key made,
rotated, revoked, a real CA's certificate imported, the roots printed; no private key in any output."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from loa_cli.main import app
from loa_core import provenance
from loa_core.secrets import new_key


@pytest.fixture
def loa(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("LOA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LOA_SECRET_KEY", new_key())
    monkeypatch.delenv("LOA_DATABASE_URL", raising=False)
    (tmp_path / "data").mkdir()
    return CliRunner()


def run(runner: CliRunner, *args: str, code: int = 0) -> Result:
    result = runner.invoke(app, ["provenance", *args])
    assert result.exit_code == code, result.output
    assert "PRIVATE KEY" not in result.output
    return result


def test_a_wards_key_is_made_rotated_revoked_and_listed(loa: CliRunner) -> None:
    made = run(loa, "ward-key", "p1").output
    first = made.split("certificate ")[1].split(",")[0]
    assert run(loa, "ward-key", "p1").output == made  # kept
    rotated = run(loa, "rotate", "p1").output
    second = rotated.split("certificate ")[1].split(" ")[0]
    assert second != first
    listed = run(loa, "list", "--ward", "p1").output.splitlines()
    assert [line.split()[-1] for line in listed] == ["retired", "current"]
    assert f"revoked {first}" in run(loa, "revoke", first, "--reason", "laptop lost").output
    assert "No certificate" in run(loa, "revoke", "abc123", code=1).output
    assert run(loa, "list", "--ward", "p1").output.splitlines()[0].endswith("revoked")
    roots = run(loa, "roots").output
    assert roots.count("BEGIN CERTIFICATE") == 1


def test_a_real_cas_certificates_are_imported(loa: CliRunner, tmp_path: Path) -> None:
    district = provenance.new_root("Sở Thông tin và Truyền thông")
    (tmp_path / "ca.pem").write_text(district.chain_pem)
    (tmp_path / "ca.key").write_text(district.key_pem)
    assert (
        district.serial
        in run(loa, "init-ca", "--cert", str(tmp_path / "ca.pem"), "--key", str(tmp_path / "ca.key")).output
    )
    made = run(loa, "ward-key", "p2").output  # issued by the district's CA now
    assert "p2: certificate" in made
    issued = provenance.issue_ward(district, "p3", "Phường 3")
    (tmp_path / "p3.pem").write_text(issued.chain_pem)
    (tmp_path / "p3.key").write_text(issued.key_pem)
    out = run(loa, "import", "p3", "--chain", str(tmp_path / "p3.pem"), "--key", str(tmp_path / "p3.key")).output
    assert issued.serial in out
    # A key that is not the certificate's is refused, and the refusal shows no key.
    (tmp_path / "other.key").write_text(provenance.issue_ward(district, "p3", "x").key_pem)
    refused = run(
        loa, "import", "p3", "--chain", str(tmp_path / "p3.pem"), "--key", str(tmp_path / "other.key"), code=1
    )
    assert "does not belong" in refused.output
    assert run(loa, "roots").output.count("BEGIN CERTIFICATE") == 1  # the district's root only: no own root made
