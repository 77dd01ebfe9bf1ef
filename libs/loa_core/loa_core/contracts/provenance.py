"""How the publisher gets a ward's signing key from ingest (never through Kafka, never in an event), and what
anyone verifying a manifest trusts.

Ingest keeps the installation's root CA and each ward's signing certificate and key, the keys encrypted with the
operator's key (loa_ingest/provenance_keys.py). With the service token only (as /internal/credentials):

- `GET {ingest}/internal/provenance/keys/{ward}` → `WardSigningKey`: the ward's current certificate chain and key
  (made at the first request when the ward has none: zero configuration), and the roots a signature is checked
  against right after signing;
- `GET {ingest}/internal/provenance/trust` → `TrustList`: the roots and the revoked serials (public facts, but
  served with the same token; loa_core.provenance.Trust is built from it).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from loa_core.contracts.base import WardId

PROVENANCE_PATH = "/internal/provenance"


class TrustList(BaseModel):
    """The installation's roots (PEM) and the serials (lower-case hex) of revoked certificates."""

    model_config = ConfigDict(frozen=True)

    roots_pem: tuple[str, ...]
    revoked: tuple[str, ...] = ()


class WardSigningKey(BaseModel):
    """A ward's signing certificate chain (the ward's first, PEM) and private key (PEM). Its repr shows no key."""

    model_config = ConfigDict(frozen=True)

    ward: WardId
    ward_name: str = Field(min_length=1, max_length=200)
    serial: str = Field(pattern=r"^[0-9a-f]{1,40}$")
    chain_pem: str
    key_pem: SecretStr
    trust: TrustList
