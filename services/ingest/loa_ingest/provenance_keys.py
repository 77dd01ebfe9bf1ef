"""The installation's provenance keys in ingest's database: its root CA(s) and each ward's signing certificates
(loa_core.provenance makes and checks them), the private keys encrypted with the operator's key (loa_core.secrets).

One table, one row per certificate: a root (ward NULL) or a ward's. A ward signs with its newest certificate that
is neither retired, revoked nor near its end; rotating a ward retires its current one (what it signed still
verifies: a retired certificate is not revoked). Revoking a serial makes every manifest it signed invalid
(`trust().revoked`). Nothing needs configuring: the first request for a ward's key makes the root and the ward's
certificate (`loa provenance init-ca`, `ward-key`, `import`, `rotate`, `revoke` do it by hand).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.x509.oid import NameOID
from sqlalchemy import Column, Connection, Engine, Float, MetaData, Table, Text, insert, select, update

from loa_core import db, provenance
from loa_core.contracts import FootageUploaded
from loa_core.contracts.provenance import TrustList, WardSigningKey
from loa_core.provenance import KeyPair, ProvenanceError
from loa_core.secrets import SecretBox
from loa_core.settings import CommonSettings
from loa_ingest.accounts import wards

log = logging.getLogger(__name__)

metadata = MetaData()
provenance_certs = Table(
    "provenance_certs",
    metadata,
    Column("serial", Text, primary_key=True),  # lower-case hex, as C2PA readers report it
    Column("ward", Text),  # NULL: a root (a trust anchor)
    Column("chain_pem", Text, nullable=False),  # the certificate first, then its issuers
    Column("key_pem", Text),  # encrypted (SecretBox); NULL: a root imported without its key (trusted, cannot issue)
    Column("not_after", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("retired_at", Float),  # rotated away: no longer signs, what it signed still verifies
    Column("revoked_at", Float),  # what it signed is invalid
    Column("revoked_reason", Text),
)
# Re-encrypted with the first key at start after a key rotation (loa_ingest.credentials.reencrypt).
ENCRYPTED_COLUMNS = ((provenance_certs, "key_pem", ("serial",)),)

# A ward certificate this close to its end is replaced at the next request (so signing never meets an expired one).
RENEW_BEFORE = dt.timedelta(days=30)
ROOT_NAME = "Loa provenance root"


@dataclass(frozen=True)
class CertRow:
    serial: str
    ward: str | None
    not_after: dt.datetime
    retired: bool
    revoked: bool


class ProvenanceKeys:
    def __init__(
        self,
        engine: Engine,
        box: SecretBox,
        ward_names: Callable[[str], str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._box = box
        self._ward_names = ward_names  # a ward's display name
        self._clock = clock

    # -- roots ---------------------------------------------------------------------------------------------------

    def init_ca(self, name: str = ROOT_NAME) -> str:
        """A new root CA that issues from now on (an older root stays a trust anchor). Its serial."""
        return self._add(provenance.new_root(name), ward=None)

    def import_ca(self, pair: KeyPair) -> str:
        """A real CA's certificate and key (the district's): it issues the wards' certificates from now on. Its
        chain's self-signed end (or the CA itself) becomes a trust anchor."""
        provenance.check_pair(pair, ca=True)
        serial = pair.serial

        def work(c: Connection) -> str:
            known = provenance_certs.c.serial == serial
            if c.execute(select(provenance_certs.c.serial).where(known)).first() is None:
                return self._insert(c, pair, ward=None)
            # Trusted already (a ward's imported chain ended in it): now it has its key and issues too.
            c.execute(update(provenance_certs).where(known).values(key_pem=self._box.encrypt(pair.key_pem),
                                                                   created_at=self._clock()))  # fmt: skip
            return serial

        return db.transaction(self._engine, work)

    def _issuer(self, c: Connection) -> KeyPair:
        """The newest root with a key that is not revoked; made when there is none."""
        query = (
            select(provenance_certs)
            .where(provenance_certs.c.ward.is_(None), provenance_certs.c.key_pem.is_not(None))
            .where(provenance_certs.c.revoked_at.is_(None))
            .order_by(provenance_certs.c.created_at.desc())
        )
        row = c.execute(query).first()
        if row is not None:
            return KeyPair(row.chain_pem, self._box.decrypt(row.key_pem))
        pair = provenance.new_root(ROOT_NAME)
        self._insert(c, pair, ward=None)
        log.info("made the installation's provenance root CA %s", pair.serial)
        return pair

    # -- wards ---------------------------------------------------------------------------------------------------

    def signing_key(self, ward: str) -> WardSigningKey:
        """The ward's current key (issued now if it has none, or only one near its end), with the trust list."""
        name = self._ward_name(ward)

        def work(c: Connection) -> KeyPair:
            current = self._current(c, ward)
            if current is not None:
                return current
            pair = provenance.issue_ward(self._issuer(c), ward, name)
            self._insert(c, pair, ward=ward)
            log.info("issued ward %s a signing certificate %s", ward, pair.serial)
            return pair

        pair = db.transaction(self._engine, work)
        return WardSigningKey.model_validate(
            {"ward": ward, "ward_name": name, "serial": pair.serial, "chain_pem": pair.chain_pem,
             "key_pem": pair.key_pem, "trust": self.trust_list()}
        )  # fmt: skip

    def rotate(self, ward: str) -> str:
        """A new key and certificate for the ward; its current ones are retired (not revoked). The new serial."""
        name = self._ward_name(ward)

        def work(c: Connection) -> str:
            now = self._clock()
            c.execute(
                update(provenance_certs)
                .where(provenance_certs.c.ward == ward, provenance_certs.c.retired_at.is_(None))
                .values(retired_at=now)
            )
            pair = provenance.issue_ward(self._issuer(c), ward, name)
            self._insert(c, pair, ward=ward)
            return pair.serial

        serial = db.transaction(self._engine, work)
        log.info("rotated ward %s's signing key: now certificate %s", ward, serial)
        return serial

    def import_ward(self, ward: str, pair: KeyPair) -> str:
        """A ward certificate and key issued by a real CA: it signs from now on (the ward's others are retired).
        Its chain's self-signed root becomes a trust anchor when the chain carries one."""
        self._ward_name(ward)
        provenance.check_pair(pair, ca=False)
        leaf = pair.certificate
        unit = leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
        if not unit or unit[0].value != ward:
            raise ProvenanceError(
                f"the certificate's subject must name the ward in its OU (OU={ward}) / chủ thể của chứng thư phải "
                f"ghi mã phường ở OU (OU={ward})"
            )

        def work(c: Connection) -> str:
            c.execute(
                update(provenance_certs)
                .where(provenance_certs.c.ward == ward, provenance_certs.c.retired_at.is_(None))
                .values(retired_at=self._clock())
            )
            root = provenance.chain_root(pair.chain_pem)
            if root is not None and root.serial_number != leaf.serial_number:
                known = select(provenance_certs.c.serial).where(
                    provenance_certs.c.serial == provenance.serial_hex(root)
                )
                if c.execute(known).first() is None:
                    self._insert(c, KeyPair(provenance.pem_of(root), ""), ward=None, with_key=False)
            return self._insert(c, pair, ward=ward)

        return db.transaction(self._engine, work)

    def revoke(self, serial: str, reason: str = "") -> bool:
        """Revoke a certificate (a ward's or a root's): nothing it signed is authentic any more. False if unknown."""
        serial = serial.lower().removeprefix("0x").lstrip("0") or "0"
        statement = (
            update(provenance_certs)
            .where(provenance_certs.c.serial == serial, provenance_certs.c.revoked_at.is_(None))
            .values(revoked_at=self._clock(), revoked_reason=reason[:500])
        )
        done = db.transaction(self._engine, lambda c: c.execute(statement).rowcount)
        if done:
            log.warning("revoked provenance certificate %s", serial)
        return bool(done)

    def certificates(self, ward: str | None = None) -> list[CertRow]:
        query = select(provenance_certs).order_by(provenance_certs.c.created_at)
        if ward is not None:
            query = query.where(provenance_certs.c.ward == ward)
        rows = db.transaction(self._engine, lambda c: c.execute(query).all())
        return [
            CertRow(
                r.serial,
                r.ward,
                dt.datetime.fromtimestamp(r.not_after, dt.UTC),
                r.retired_at is not None,
                r.revoked_at is not None,
            )
            for r in rows
        ]

    def sign_source(self, path: Path, event: FootageUploaded) -> bytes:
        """The raw footage's signed C2PA manifest, as a sidecar (its bytes stay as sent). Blocking."""
        key = self.signing_key(event.ward)
        return provenance.sign_sidecar(
            path,
            key=KeyPair(key.chain_pem, key.key_pem.get_secret_value()),
            trust=provenance.Trust(key.trust.roots_pem, frozenset(key.trust.revoked)),
            ward=event.ward,
            ward_name=key.ward_name,
            title=event.metadata.title,
            event_date=event.metadata.event_date,
            received_at=event.occurred_at,
            source_sha256=event.media.sha256,
            footage_id=event.footage_id,
        )

    # -- trust ---------------------------------------------------------------------------------------------------

    def trust_list(self) -> TrustList:
        """Every root (the anchors) and every revoked serial. A revoked root is no anchor."""
        rows = db.transaction(self._engine, lambda c: c.execute(select(provenance_certs)).all())
        roots = provenance.roots_of(r.chain_pem for r in rows if r.ward is None and r.revoked_at is None)
        revoked = tuple(sorted(r.serial for r in rows if r.revoked_at is not None))
        return TrustList(roots_pem=roots, revoked=revoked)

    def trust(self) -> provenance.Trust:
        listed = self.trust_list()
        return provenance.Trust(listed.roots_pem, frozenset(listed.revoked))

    def trust_if_any(self) -> provenance.Trust | None:
        """The trust, or None before any root exists (the verification page's way of saying "nothing trusted")."""
        trust = self.trust()
        return trust if trust.roots_pem else None

    # -- inside ----------------------------------------------------------------------------------------------------

    def _ward_name(self, ward: str) -> str:
        return self._ward_names(ward)

    def _current(self, c: Connection, ward: str) -> KeyPair | None:
        fresh_until = self._clock() + RENEW_BEFORE.total_seconds()
        query = (
            select(provenance_certs)
            .where(provenance_certs.c.ward == ward, provenance_certs.c.key_pem.is_not(None))
            .where(provenance_certs.c.retired_at.is_(None), provenance_certs.c.revoked_at.is_(None))
            .where(provenance_certs.c.not_after > fresh_until)
            .order_by(provenance_certs.c.created_at.desc())
        )
        row = c.execute(query).first()
        return KeyPair(row.chain_pem, self._box.decrypt(row.key_pem)) if row is not None else None

    def _add(self, pair: KeyPair, *, ward: str | None) -> str:
        return db.transaction(self._engine, lambda c: self._insert(c, pair, ward=ward))

    def _insert(self, c: Connection, pair: KeyPair, *, ward: str | None, with_key: bool = True) -> str:
        cert = pair.certificate
        c.execute(
            insert(provenance_certs).values(
                serial=provenance.serial_hex(cert),
                ward=ward,
                chain_pem=pair.chain_pem,
                key_pem=self._box.encrypt(pair.key_pem) if with_key else None,
                not_after=cert.not_valid_after_utc.timestamp(),
                created_at=self._clock(),
            )
        )
        return provenance.serial_hex(cert)


def provenance_keys(settings: CommonSettings, engine: Engine) -> ProvenanceKeys | None:
    """The store the bootstrap and `loa provenance` use (None without the operator's key: the keys could not be
    kept encrypted). A ward's name comes from the wards table; a ward it does not know is named by its id."""
    box = settings.secret_box()
    if box is None:
        return None

    def name(ward: str) -> str:
        query = select(wards.c.display_name).where(wards.c.id == ward)
        found = db.transaction(engine, lambda c: c.execute(query).scalar())
        return str(found) if found else ward

    return ProvenanceKeys(engine, box, name)
