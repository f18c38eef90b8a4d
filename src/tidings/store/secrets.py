"""Per-application secrets that sign webhook deliveries (see tidings.channels.webhook).

A secret is Standard Webhooks' ``whsec_`` + base64 (tidings.domain.webhook_secrets), stored
sealed (tidings.store.sealing) for the purpose ``webhook-secret:<app id>``. Rotating keeps
the replaced secret as ``previous_secret`` until ``previous_until``: while that overlap lasts,
deliveries carry a signature with each, so receivers can switch to the new secret at leisure.

Rows written before secrets were sealed hold 64 hex characters in plain text. The first use
of such a row seals it in place as the whsec_ form of the same HMAC key
(``webhook_secrets.from_legacy``): receivers that kept the hex secret go on verifying the
deprecated ``X-Tidings-Signature`` header, and the printed whsec_ form verifies the standard
headers; nobody's verification breaks on upgrade.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, select, update

from tidings.domain import webhook_secrets
from tidings.domain.common import format_date, now_iso, parse_date
from tidings.store import schema as t
from tidings.store.sealing import Sealer, is_sealed
from tidings.store.sql import insert_ignore, upsert

# How long a rotated-out secret keeps signing deliveries unless the caller says otherwise.
DEFAULT_OVERLAP_S = 24 * 3600


@dataclass(frozen=True)
class SigningSecrets:
    """An app's signing secrets: the current one, and the previous one while it overlaps."""

    current: str
    previous: str | None = None
    previous_until: str | None = None  # ISO 8601; the previous secret signs until then

    def signing_at(self, moment: datetime) -> list[str]:
        """The secrets a delivery sent at ``moment`` is signed with, the current one first."""
        until = parse_date(self.previous_until or "")
        if self.previous is not None and until is not None and moment < until:
            return [self.current, self.previous]
        return [self.current]


def signing_secrets(conn: Connection, sealer: Sealer, app_id: str) -> SigningSecrets:
    """The app's signing secrets, the current one made on first use.

    Needs a write connection the first time (and to convert a row from before sealing). Two
    first uses at once both try to insert; the primary key keeps one and both read it back.
    """
    stored = _stored(conn, sealer, app_id)
    if stored is not None:
        return stored
    row = {"app_id": app_id, "secret": sealer.seal(webhook_secrets.new_secret(), _purpose(app_id)), "created": now_iso()}
    insert_ignore(conn, t.signing_secrets, [row], ("app_id",))
    made = _stored(conn, sealer, app_id)
    assert made is not None  # just written, in this transaction
    return made


def rotate_signing_secret(
    conn: Connection, sealer: Sealer, app_id: str, *, overlap_s: float = DEFAULT_OVERLAP_S
) -> SigningSecrets:
    """Replace the app's current secret with a new one; the replaced one keeps signing for
    ``overlap_s`` seconds (0: not at all). A previous secret still overlapping from an
    earlier rotation is dropped: deliveries carry at most two signatures. Needs a write
    connection."""
    if overlap_s < 0:
        raise ValueError("the overlap of a rotation cannot be negative")
    replaced = _stored(conn, sealer, app_id)
    purpose = _purpose(app_id)
    row = {
        "app_id": app_id,
        "secret": sealer.seal(webhook_secrets.new_secret(), purpose),
        "created": now_iso(),
        "previous_secret": None,
        "previous_until": None,
    }
    if replaced is not None and overlap_s > 0:
        row["previous_secret"] = sealer.seal(replaced.current, purpose)
        row["previous_until"] = format_date(datetime.now(UTC) + timedelta(seconds=overlap_s))
    upsert(conn, t.signing_secrets, [row], ("app_id",))
    rotated = _stored(conn, sealer, app_id)
    assert rotated is not None
    return rotated


def _stored(conn: Connection, sealer: Sealer, app_id: str) -> SigningSecrets | None:
    """What the row holds, opened; a previous secret whose overlap is over is left out."""
    table = t.signing_secrets
    query = select(table.c.secret, table.c.previous_secret, table.c.previous_until).where(table.c.app_id == app_id)
    row = conn.execute(query).one_or_none()
    if row is None:
        return None
    purpose = _purpose(app_id)
    if is_sealed(row.secret):
        current = sealer.open(row.secret, purpose)
    else:
        current = _convert_legacy(conn, sealer, app_id, row.secret)
    until = parse_date(row.previous_until or "")
    if row.previous_secret is None or until is None or until <= datetime.now(UTC):
        return SigningSecrets(current)
    return SigningSecrets(current, sealer.open(row.previous_secret, purpose), row.previous_until)


def _convert_legacy(conn: Connection, sealer: Sealer, app_id: str, plain: str) -> str:
    """Seal a secret stored in plain text before sealing, in the whsec_ form of its key."""
    secret = webhook_secrets.from_legacy(plain)
    table = t.signing_secrets
    sealed = sealer.seal(secret, _purpose(app_id))
    # Only where the row still holds that plain text: a concurrent conversion wins either way.
    conn.execute(update(table).where(table.c.app_id == app_id, table.c.secret == plain).values(secret=sealed))
    return secret


def _purpose(app_id: str) -> str:
    return f"webhook-secret:{app_id}"
