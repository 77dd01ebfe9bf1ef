"""Ingest's provenance keys (revision 0008): made on first use, encrypted at rest and re-encrypted after a rotation of
the operator's key, rotated per ward (the old certificate still verifies), revoked (the trust list says so),
imported from a real CA; and the internal route the publisher reads them from, by service token only."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from loa_core import provenance
from loa_core.auth import hash_token, new_token
from loa_core.contracts import FootageUploaded, new_id
from loa_core.hashing import sha256_file
from loa_core.provenance import KeyPair, ProvenanceError
from loa_core.secrets import SecretBox, new_key
from loa_ingest.credentials import reencrypt
from loa_ingest.provenance_api import provenance_router
from loa_ingest.provenance_keys import ProvenanceKeys
from loa_ingest.settings import IngestSettings
from loa_ingest.state import open_state
from tests.support.media import make_clip

NAMES = {"p1": "Phường 1", "p2": "Phường 2"}


def store(tmp_path: Path, box: SecretBox) -> tuple[ProvenanceKeys, Path]:
    state = open_state(tmp_path / "ingest.sqlite3", tmp_path / "spool")
    return ProvenanceKeys(state.engine, box, lambda ward: NAMES.get(ward, ward)), tmp_path / "ingest.sqlite3"


def stored_keys(path: Path) -> str:
    with sqlite3.connect(path) as db:
        return " ".join(str(row[0]) for row in db.execute("SELECT key_pem FROM provenance_certs"))


def test_a_wards_key_is_made_on_first_use_kept_encrypted_and_the_same_after(tmp_path: Path) -> None:
    keys, path = store(tmp_path, SecretBox([new_key()]))
    first = keys.signing_key("p1")
    assert first.ward == "p1" and first.ward_name == "Phường 1"
    assert keys.signing_key("p1").serial == first.serial  # the same until rotated
    assert keys.signing_key("p2").serial != first.serial
    pair = KeyPair(first.chain_pem, first.key_pem.get_secret_value())
    provenance.check_pair(pair, ca=False)  # the C2PA profile, the key matching its certificate
    assert len(first.trust.roots_pem) == 1 and provenance.chain_root(first.chain_pem) is not None
    at_rest = stored_keys(path)
    assert "PRIVATE KEY" not in at_rest and first.key_pem.get_secret_value()[40:80] not in at_rest
    assert first.key_pem.get_secret_value() not in repr(first)


def test_rotating_a_ward_keeps_the_old_certificate_trusted_and_revoking_lists_it(tmp_path: Path) -> None:
    keys, _ = store(tmp_path, SecretBox([new_key()]))
    old = keys.signing_key("p1").serial
    new = keys.rotate("p1")
    assert new != old and keys.signing_key("p1").serial == new
    rows = {row.serial: row for row in keys.certificates("p1")}
    assert rows[old].retired and not rows[old].revoked and not rows[new].retired
    assert keys.trust().revoked == frozenset()
    assert keys.revoke(old, "laptop lost") and not keys.revoke(old)  # once
    assert not keys.revoke("deadbeef")  # unknown
    assert keys.trust().revoked == frozenset({old})
    assert keys.signing_key("p1").serial == new


def test_a_new_operator_key_put_first_reencrypts_the_signing_keys(tmp_path: Path) -> None:
    old, new = new_key(), new_key()
    keys, _ = store(tmp_path, SecretBox([old]))
    serial = keys.signing_key("p1").serial  # the root's key and the ward's
    engine_keys = ProvenanceKeys(keys._engine, SecretBox([new, old]), lambda w: w)
    assert reencrypt(keys._engine, SecretBox([new, old])) == 2
    assert reencrypt(keys._engine, SecretBox([new, old])) == 0
    assert ProvenanceKeys(keys._engine, SecretBox([new]), lambda w: w).signing_key("p1").serial == serial
    assert engine_keys.signing_key("p1").serial == serial


def test_a_real_cas_certificate_is_imported_and_its_root_trusted(tmp_path: Path) -> None:
    keys, _ = store(tmp_path, SecretBox([new_key()]))
    keys.signing_key("p1")  # the installation's own root exists already
    district = provenance.new_root("Sở TT&TT")
    issued = provenance.issue_ward(district, "p2", "Phường 2")
    serial = keys.import_ward("p2", issued)
    assert keys.signing_key("p2").serial == serial == issued.serial
    assert len(keys.trust().roots_pem) == 2  # the district's root beside the installation's
    with pytest.raises(ProvenanceError, match="OU"):
        keys.import_ward("p1", provenance.issue_ward(district, "p2", "Phường 2"))  # issued to another ward
    with pytest.raises(ProvenanceError, match="does not belong"):
        keys.import_ward("p2", KeyPair(issued.chain_pem, provenance.issue_ward(district, "p2", "x").key_pem))
    # A district CA imported with its key issues the next wards' certificates.
    ca_serial = keys.import_ca(district)
    assert ca_serial == district.serial
    chain = provenance.certificates(keys.rotate("p1") and keys.signing_key("p1").chain_pem)
    assert chain[1].subject == district.certificate.subject


def test_an_expiring_wards_certificate_is_replaced_before_it_ends(tmp_path: Path) -> None:
    now = [dt.datetime.now(dt.UTC).timestamp()]
    state = open_state(tmp_path / "ingest.sqlite3", tmp_path / "spool")
    keys = ProvenanceKeys(state.engine, SecretBox([new_key()]), lambda w: w, clock=lambda: now[0])
    first = keys.signing_key("p1").serial
    now[0] += (provenance.WARD_VALID_DAYS - 10) * 86400.0  # ten days before its end
    assert keys.signing_key("p1").serial != first


async def test_the_internal_route_gives_a_key_to_the_service_token_only(tmp_path: Path) -> None:
    token = new_token()
    settings = IngestSettings(service_token_hashes=hash_token(token), data_dir=tmp_path)
    keys, _ = store(tmp_path, SecretBox([new_key()]))
    app = FastAPI()
    app.include_router(provenance_router(settings, keys))
    keyless = FastAPI()
    keyless.include_router(provenance_router(settings, None))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingest") as client:
        assert (await client.get("/internal/provenance/keys/p1")).status_code == 401
        refused = await client.get("/internal/provenance/keys/p1", headers={"Authorization": f"Bearer {new_token()}"})
        assert refused.status_code == 403 and "Chỉ các dịch vụ" in refused.text
        given = await client.get("/internal/provenance/keys/p1", headers={"Authorization": f"Bearer {token}"})
        assert given.status_code == 200 and given.headers["cache-control"] == "no-store"
        body = given.json()
        assert body["ward"] == "p1" and "PRIVATE KEY" in body["key_pem"]
        trust = await client.get("/internal/provenance/trust", headers={"Authorization": f"Bearer {token}"})
        assert trust.json() == {"roots_pem": list(body["trust"]["roots_pem"]), "revoked": []}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=keyless), base_url="http://ingest") as client:
        none = await client.get("/internal/provenance/keys/p1", headers={"Authorization": f"Bearer {token}"})
        assert none.status_code == 503 and "LOA_SECRET_KEY" in none.text


def test_the_raw_footage_is_signed_with_its_wards_key_as_a_sidecar(tmp_path: Path) -> None:
    keys, _ = store(tmp_path, SecretBox([new_key()]))
    clip = make_clip(tmp_path / "raw.mp4", width=160, height=90, duration_s=1.0)
    event = FootageUploaded.model_validate(
        {"footage_id": new_id(), "ward": "p1", "metadata": {"title": "Họp dân", "channels": ["local"]},
         "media": {"key": "raw/x/source", "size_bytes": clip.stat().st_size, "sha256": sha256_file(clip),
                   "duration_s": 1.0, "width": 160, "height": 90, "has_audio": True}}
    )  # fmt: skip
    sidecar = keys.sign_source(clip, event)
    verdict = provenance.read(clip, keys.trust(), sidecar=sidecar)
    assert isinstance(verdict, provenance.Signed), verdict
    assert verdict.claims.ward == "p1" and verdict.claims.ward_name == "Phường 1"
    assert verdict.claims.footage_id == event.footage_id and verdict.claims.source_sha256 == event.media.sha256
    assert verdict.serial == keys.signing_key("p1").serial
