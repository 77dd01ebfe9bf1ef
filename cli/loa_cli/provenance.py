"""`loa provenance …`: the installation's signing keys, for the operator, where ingest runs.

These commands open ingest's database themselves (the same LOA_DATABASE_URL or LOA_DATA_DIR, and LOA_SECRET_KEY
or LOA_SECRET_KEY_FILE, as ingest), so a private key never crosses the network and is never printed: they print
serials, names and dates. Nothing here is needed for a first run: ingest makes the root and a ward's key the first
time the publisher asks for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from loa_core.provenance import KeyPair, ProvenanceError

if TYPE_CHECKING:
    from loa_ingest.provenance_keys import ProvenanceKeys

provenance_app = typer.Typer(
    help="C2PA signing keys (the operator, where ingest runs) / khóa ký C2PA (quản trị hệ thống).",
    no_args_is_help=True,
)


def _keys() -> ProvenanceKeys:
    try:
        from loa_core import db
        from loa_core.contracts import INGEST
        from loa_ingest.provenance_keys import provenance_keys
        from loa_ingest.settings import IngestSettings
    except ImportError:
        typer.echo(
            "Run `loa provenance` where ingest is installed: it opens ingest's database. / Hãy chạy `loa provenance` "
            "trên máy chạy ingest: lệnh mở cơ sở dữ liệu của ingest.",
            err=True,
        )
        raise typer.Exit(2) from None
    settings = IngestSettings()
    engine = db.make_engine(settings.state_location(), service=INGEST)
    db.migrate(engine, INGEST)
    keys = provenance_keys(settings, engine)
    if keys is None:
        typer.echo(
            "No LOA_SECRET_KEY (or LOA_SECRET_KEY_FILE): the keys are kept encrypted with it. / Chưa có "
            "LOA_SECRET_KEY (hoặc LOA_SECRET_KEY_FILE): khóa ký được mã hóa bằng nó.",
            err=True,
        )
        raise typer.Exit(2)
    return keys


def _pair(chain: Path, key: Path) -> KeyPair:
    try:
        return KeyPair(chain.read_text("ascii"), key.read_text("ascii"))
    except (OSError, UnicodeError) as exc:
        typer.echo(f"Cannot read the certificate or key file: {exc.__class__.__name__} / Không đọc được tệp.", err=True)
        raise typer.Exit(2) from None


def _refused(exc: ProvenanceError) -> typer.Exit:
    typer.echo(str(exc), err=True)
    return typer.Exit(1)


@provenance_app.command("init-ca")
def init_ca(
    name: Annotated[str, typer.Option(help="The root's common name (tên của CA gốc)")] = "Loa provenance root",
    cert: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="A real CA's certificate")] = None,
    key: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="That CA's private key (PEM)")] = None,
) -> None:
    """Make a new root CA (or import a real one, the district's, with --cert and --key) that issues the wards'
    certificates from now on; older roots stay trusted."""
    keys = _keys()
    try:
        if cert is not None and key is not None:
            serial = keys.import_ca(_pair(cert, key))
        elif cert is None and key is None:
            serial = keys.init_ca(name)
        else:
            typer.echo("Give both --cert and --key. / Cần cả --cert và --key.", err=True)
            raise typer.Exit(2)
    except ProvenanceError as exc:
        raise _refused(exc) from None
    typer.echo(f"root CA {serial} issues the wards' certificates from now on / CA gốc {serial} cấp chứng thư từ nay")


@provenance_app.command("ward-key")
def ward_key(ward: Annotated[str, typer.Argument(help="The ward's id (mã phường)")]) -> None:
    """Make the ward's signing key and certificate if it has none; print its serial and end date."""
    keys = _keys()
    try:
        current = keys.signing_key(ward)
    except ProvenanceError as exc:
        raise _refused(exc) from None
    row = next(r for r in keys.certificates(ward) if r.serial == current.serial)
    typer.echo(f"{ward}: certificate {current.serial}, valid until {row.not_after:%Y-%m-%d}")


@provenance_app.command("import")
def import_ward(
    ward: Annotated[str, typer.Argument(help="The ward's id (mã phường)")],
    chain: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="Its certificate chain, PEM, its own first")],
    key: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="Its private key, PEM (ECDSA P-256)")],
) -> None:
    """Sign the ward's posts with a certificate a real CA issued (C2PA profile, OU = the ward's id). The chain's
    root is trusted from now on."""
    keys = _keys()
    try:
        serial = keys.import_ward(ward, _pair(chain, key))
    except ProvenanceError as exc:
        raise _refused(exc) from None
    typer.echo(f"{ward} signs with certificate {serial} from now on / {ward} ký bằng chứng thư {serial} từ nay")


@provenance_app.command("rotate")
def rotate(ward: Annotated[str, typer.Argument(help="The ward's id (mã phường)")]) -> None:
    """A new key for the ward; its old certificate is retired (what it signed still verifies), not revoked."""
    keys = _keys()
    try:
        serial = keys.rotate(ward)
    except ProvenanceError as exc:
        raise _refused(exc) from None
    typer.echo(f"{ward} signs with certificate {serial} from now on / {ward} ký bằng chứng thư {serial} từ nay")


@provenance_app.command("revoke")
def revoke(
    serial: Annotated[str, typer.Argument(help="The certificate's serial (hex)")],
    reason: Annotated[str, typer.Option(help="Why (lý do)")] = "",
) -> None:
    """Revoke a certificate: nothing it signed reads as authentic any more (rotate the ward too)."""
    if not _keys().revoke(serial, reason):
        typer.echo(f"No certificate {serial} to revoke. / Không có chứng thư {serial}.", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {serial} / đã thu hồi {serial}")


@provenance_app.command("list")
def list_certificates(ward: Annotated[str | None, typer.Option(help="Only this ward's")] = None) -> None:
    """The roots and the wards' certificates: serial, ward (- for a root), end date, state."""
    for row in _keys().certificates(ward):
        state = "revoked" if row.revoked else "retired" if row.retired else "current"
        typer.echo(f"{row.serial:<42} {row.ward or '-':<16} {row.not_after:%Y-%m-%d} {state}")


@provenance_app.command("roots")
def roots() -> None:
    """Print the trusted roots (PEM), for a verifier (c2patool's trust anchors)."""
    for pem in _keys().trust().roots_pem:
        typer.echo(pem, nl=False)
