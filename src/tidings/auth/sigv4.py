"""AWS Signature Version 4, checked the way AWS checks it.

Two forms reach a server: the ``Authorization`` header (what boto3 and the AWS CLI send) and
the query string of a presigned URL (``X-Amz-Algorithm``, ``X-Amz-Credential``, ...). Both sign
the same canonical request, built as botocore's ``SigV4Auth.canonical_request`` builds it:

    METHOD \\n canonical URI \\n canonical query \\n canonical headers \\n\\n signed headers \\n payload hash

where the canonical URI is the path as sent with dot segments and empty segments removed,
percent-encoded once more (so ``%3A`` in a Lambda function ARN is signed as ``%253A``), the
query is every pair but ``X-Amz-Signature`` decoded, re-encoded with only ``A-Za-z0-9-_.~``
left bare and sorted, and the payload hash is ``x-amz-content-sha256`` when the client sent
one (the body must then hash to it) or the body's SHA-256.

Nothing here does I/O: ``parse`` reads what the request claims, the caller finds the secret of
the claimed key, ``verify`` recomputes the signature.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote_to_bytes

from botocore.utils import normalize_url_path

from tidings.domain.errors import Forbidden

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
AMZ_DATE = "%Y%m%dT%H%M%SZ"
MAX_SKEW = timedelta(minutes=15)
MAX_PRESIGNED_EXPIRES = 7 * 24 * 3600  # a week, as AWS caps X-Amz-Expires
QUERY_AUTH = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature")
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
_HEX64 = re.compile(r"[0-9a-f]{64}")


def missing_token() -> Forbidden:
    return Forbidden("Missing Authentication Token", code="MissingAuthenticationTokenException")


def incomplete(message: str) -> Forbidden:
    return Forbidden(message, code="IncompleteSignatureException")


def invalid(message: str) -> Forbidden:
    return Forbidden(message, code="InvalidSignatureException")


def unrecognized() -> Forbidden:
    return Forbidden("The security token included in the request is invalid.", code="UnrecognizedClientException")


@dataclass(frozen=True)
class Request:
    """What of an HTTP request the signature covers, as it came off the wire."""

    method: str
    raw_path: bytes
    raw_query: bytes
    headers: list[tuple[str, str]]  # lower-case names, in arrival order, repeats kept
    body: bytes


@dataclass(frozen=True)
class Claim:
    """What a request says about its signature, before any key is looked up."""

    access_key_id: str
    date: str  # yyyymmdd of the credential scope
    region: str
    service: str
    timestamp: str  # X-Amz-Date (or the Date header in that form)
    signed_headers: tuple[str, ...]
    signature: str
    expires: int | None  # seconds; presigned URLs only
    query: list[tuple[str, str]]  # decoded pairs, X-Amz-Signature left out

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{TERMINATOR}"


def parse(request: Request) -> Claim:
    """The signature a request claims; Missing/IncompleteSignature when there is none or it is malformed."""
    query = _query_pairs(request.raw_query)
    names = {name for name, _ in query}
    authorization = _header(request, "authorization")
    if authorization is not None:
        return _parse_header(request, authorization, query)
    if "X-Amz-Algorithm" in names or "X-Amz-Signature" in names or "X-Amz-Credential" in names:
        return _parse_query(query)
    raise missing_token()


def verify(request: Request, claim: Claim, secret: str, *, region: str, service: str, now: datetime) -> None:
    """Raise InvalidSignatureException unless ``claim`` is a valid signature by ``secret``
    for ``service`` in ``region`` at ``now`` (an aware UTC datetime)."""
    if claim.service != service:
        raise invalid(f"Credential should be scoped to correct service: '{service}'.")
    if claim.region != region:
        raise invalid(f"Credential should be scoped to a valid region, not '{claim.region}'.")
    try:
        signed_at = datetime.strptime(claim.timestamp, AMZ_DATE).replace(tzinfo=UTC)
    except ValueError:
        raise incomplete(f"X-Amz-Date must be in the ISO8601 basic format yyyyMMdd'T'HHmmss'Z', got '{claim.timestamp}'.") from None
    if claim.timestamp[:8] != claim.date:
        raise invalid(
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{claim.date}' != '{claim.timestamp[:8]}', from '{claim.timestamp}'."
        )
    stamp = now.strftime(AMZ_DATE)
    if signed_at > now + MAX_SKEW:
        raise invalid(
            f"Signature not yet current: {claim.timestamp} is still later than "
            f"{(now + MAX_SKEW).strftime(AMZ_DATE)} ({stamp} + 15 min.)"
        )
    if claim.expires is None:
        if signed_at < now - MAX_SKEW:
            raise invalid(
                f"Signature expired: {claim.timestamp} is now earlier than "
                f"{(now - MAX_SKEW).strftime(AMZ_DATE)} ({stamp} - 15 min.)"
            )
    elif signed_at + timedelta(seconds=claim.expires) < now:
        raise invalid(
            f"Signature expired: {claim.timestamp} + {claim.expires}s (X-Amz-Expires) is now earlier than {stamp}"
        )
    expected = signature(secret, claim, string_to_sign(claim, canonical_request(request, claim)))
    if not hmac.compare_digest(expected, claim.signature):
        raise invalid(SIGNATURE_MISMATCH)


def canonical_request(request: Request, claim: Claim) -> str:
    path = request.raw_path.decode("utf-8", "surrogateescape")
    uri = quote(normalize_url_path(path), safe="/~", encoding="utf-8", errors="surrogateescape")
    query = "&".join(f"{key}={value}" for key, value in sorted((_encode(k), _encode(v)) for k, v in claim.query))
    lines = [request.method.upper(), uri, query]
    for name in claim.signed_headers:
        values = [value for header, value in request.headers if header == name]
        lines.append(f"{name}:{','.join(' '.join(value.split()) for value in values)}")
    lines += ["", ";".join(claim.signed_headers), _payload_hash(request, claim)]
    return "\n".join(lines)


def string_to_sign(claim: Claim, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8", "surrogateescape")).hexdigest()
    return f"{ALGORITHM}\n{claim.timestamp}\n{claim.scope}\n{digest}"


def signature(secret: str, claim: Claim, to_sign: str) -> str:
    key = f"AWS4{secret}".encode()
    for part in (claim.date, claim.region, claim.service, TERMINATOR):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def _parse_header(request: Request, authorization: str, query: list[tuple[str, str]]) -> Claim:
    algorithm, _, rest = authorization.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise incomplete(
            f"Authorization header requires the {ALGORITHM} algorithm (AWS Signature Version 4), "
            f"got '{algorithm}'."
        )
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, equals, value = part.strip().partition("=")
        if equals:
            fields[name] = value
    missing = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if not fields.get(name)
    ]
    timestamp = _header(request, "x-amz-date") or _date_header(request)
    if timestamp is None:
        missing.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    if missing:
        raise incomplete(" ".join(missing))
    assert timestamp is not None
    return _claim(fields["Credential"], fields["SignedHeaders"], fields["Signature"], timestamp, None, query)


def _parse_query(query: list[tuple[str, str]]) -> Claim:
    values = dict(query)
    missing = [f"AWS query-string parameters must include '{name}'." for name in QUERY_AUTH if not values.get(name)]
    if missing:
        raise incomplete(" ".join(missing) + " Re-examine the query-string parameters.")
    if values["X-Amz-Algorithm"] != ALGORITHM:
        raise incomplete(f"X-Amz-Algorithm must be {ALGORITHM}, got '{values['X-Amz-Algorithm']}'.")
    raw_expires = values.get("X-Amz-Expires", "")
    if not raw_expires.isdigit():
        raise incomplete("AWS query-string parameters must include 'X-Amz-Expires' as a number of seconds.")
    expires = int(raw_expires)
    if expires > MAX_PRESIGNED_EXPIRES:
        raise incomplete(f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGNED_EXPIRES}.")
    signed = [(name, value) for name, value in query if name != "X-Amz-Signature"]
    return _claim(
        values["X-Amz-Credential"], values["X-Amz-SignedHeaders"], values["X-Amz-Signature"],
        values["X-Amz-Date"], expires, signed,
    )  # fmt: skip


def _claim(
    credential: str, signed_headers: str, signature: str, timestamp: str, expires: int | None,
    query: list[tuple[str, str]],
) -> Claim:  # fmt: skip
    parts = credential.split("/")
    if len(parts) != 5 or not all(parts) or parts[4] != TERMINATOR:
        raise incomplete(
            f"Credential must have the form <access key id>/<yyyymmdd>/<region>/<service>/{TERMINATOR}, "
            f"got '{credential}'."
        )
    headers = tuple(signed_headers.split(";"))
    if "host" not in headers:
        raise incomplete("'Host' must be a 'SignedHeader' in the AWS Authorization.")
    if list(headers) != sorted(set(headers)) or not all(headers):
        raise incomplete(f"SignedHeaders must be lower-case header names, sorted and separated by ';', got '{signed_headers}'.")
    if not _HEX64.fullmatch(signature):
        raise incomplete("Signature must be 64 lower-case hexadecimal digits.")
    return Claim(
        access_key_id=parts[0], date=parts[1], region=parts[2], service=parts[3], timestamp=timestamp,
        signed_headers=headers, signature=signature, expires=expires,
        query=[(name, value) for name, value in query if name != "X-Amz-Signature"],
    )  # fmt: skip


def _payload_hash(request: Request, claim: Claim) -> str:
    actual = hashlib.sha256(request.body).hexdigest()
    declared = _header(request, "x-amz-content-sha256")
    if declared is None or claim.expires is not None:
        return actual
    if declared != actual:
        # A signed hash of another body (or UNSIGNED-PAYLOAD): the body would go unchecked.
        raise invalid(
            "The provided 'x-amz-content-sha256' header does not match the SHA-256 of the request body; "
            "Tidings needs the body signed (UNSIGNED-PAYLOAD and streaming payloads are not accepted)."
        )
    return declared


def _query_pairs(raw_query: bytes) -> list[tuple[str, str]]:
    pairs = []
    for part in raw_query.split(b"&"):
        if part:
            key, _, value = part.partition(b"=")
            pairs.append((_decode(key), _decode(value)))
    return pairs


def _decode(raw: bytes) -> str:
    return unquote_to_bytes(raw).decode("utf-8", "surrogateescape")


def _encode(text: str) -> str:
    return quote(text, safe="-_.~", encoding="utf-8", errors="surrogateescape")


def _header(request: Request, name: str) -> str | None:
    for header, value in request.headers:
        if header == name:
            return value
    return None


def _date_header(request: Request) -> str | None:
    """The Date header in X-Amz-Date's form, for clients that sign with Date instead."""
    value = _header(request, "date")
    if value is None:
        return None
    try:
        return parsedate_to_datetime(value).astimezone(UTC).strftime(AMZ_DATE)
    except (TypeError, ValueError):
        raise incomplete(f"Date header '{value}' is not an HTTP date.") from None
