"""Service models loaded from the installed botocore, and how each service spells its errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import botocore.session
from botocore.exceptions import UnknownServiceError
from botocore.model import ServiceModel

from tidings.domain.functions import MAX_ASYNC_PAYLOAD, MAX_CODE_REQUEST_BYTES, MAX_SYNC_PAYLOAD

# Tidings' own service model, in botocore's layout (<service>/<api version>/service-2.json),
# for what Pinpoint's API has no operation for.
MODELS_DIR = Path(__file__).parent / "models"
TIDINGS_API_VERSION = "2026-12-01"


def botocore_session(profile: str | None = None) -> botocore.session.Session:
    """A botocore session that also knows Tidings' own service model."""
    session = botocore.session.Session(profile=profile)
    session.get_component("data_loader").search_paths.append(str(MODELS_DIR))
    return session


@cache
def load_service_model(name: str, api_version: str) -> ServiceModel:
    session = botocore_session()
    try:
        return session.get_service_model(name, api_version)
    except (UnknownServiceError, Exception) as exc:  # DataNotFoundError and friends
        raise RuntimeError(
            f"neither the installed botocore nor {MODELS_DIR} has the {name} {api_version} model; "
            "install Tidings again, with a botocore release in the range pyproject.toml pins"
        ) from exc


@dataclass(frozen=True)
class ErrorStyle:
    """How one service names failures and shapes its error bodies.

    ``codes`` maps the kinds of ``tidings.domain.errors`` to that service's error shapes.
    """

    codes: dict[str, str]
    body_keys: tuple[str, ...]  # where the message goes in the error body
    extra_body: dict[str, str] = field(default_factory=dict)
    request_id_key: str | None = None
    # The largest request body an operation takes (the service's published quota), read
    # no further than that: ``body_limits`` by operation (a number, or a function of the
    # lower-cased request headers), ``max_body_bytes`` for the others.
    max_body_bytes: int = 7 * 1024 * 1024
    body_limits: Mapping[str, int | Callable[[Mapping[str, str]], int]] = field(
        default_factory=dict
    )

    def body_limit(self, operation: str, headers: Mapping[str, str]) -> int:
        limit = self.body_limits.get(operation, self.max_body_bytes)
        return limit(headers) if callable(limit) else limit


PINPOINT_ERRORS = ErrorStyle(
    codes={
        "invalid": "BadRequestException",
        "not_found": "NotFoundException",
        "conflict": "BadRequestException",
        "forbidden": "ForbiddenException",
        "too_large": "PayloadTooLargeException",
        "throttled": "TooManyRequestsException",
        "unsupported": "MethodNotAllowedException",
        "internal": "InternalServerErrorException",
    },
    body_keys=("Message",),
    request_id_key="RequestID",
    # Pinpoint: 7 MB per request unless a resource says otherwise; events 4 MB.
    body_limits={"PutEvents": 4 * 1024 * 1024},
)


def _invoke_body_limit(headers: Mapping[str, str]) -> int:
    if headers.get("x-amz-invocation-type") == "Event":
        return MAX_ASYNC_PAYLOAD
    return MAX_SYNC_PAYLOAD


LAMBDA_ERRORS = ErrorStyle(
    codes={
        "invalid": "InvalidParameterValueException",
        "not_found": "ResourceNotFoundException",
        "conflict": "ResourceConflictException",
        "forbidden": "AccessDeniedException",
        # The model calls its 413 RequestTooLargeException; Lambda sends this code.
        "too_large": "RequestEntityTooLargeException",
        "throttled": "TooManyRequestsException",
        "unsupported": "InvalidRequestContentException",
        "internal": "ServiceException",
    },
    body_keys=("Message", "message"),
    extra_body={"Type": "User"},
    max_body_bytes=MAX_SYNC_PAYLOAD,
    body_limits={
        "Invoke": _invoke_body_limit,
        "CreateFunction": MAX_CODE_REQUEST_BYTES,
        "UpdateFunctionCode": MAX_CODE_REQUEST_BYTES,
    },
)

# Status codes for error codes a service sends that its model does not declare.
UNMODELED_STATUS = {
    "ValidationException": 400,
    "RequestEntityTooLargeException": 413,
    "RequestTimeoutException": 408,
    "UnknownOperationException": 404,
    "AccessDeniedException": 403,
}
KIND_STATUS = {
    "invalid": 400,
    "not_found": 404,
    "conflict": 409,
    "forbidden": 403,
    "too_large": 413,
    "throttled": 429,
    "unsupported": 405,
    "internal": 500,
}


@dataclass(frozen=True)
class Service:
    """One AWS API that Tidings serves: its model, its error style and its handlers."""

    title: str  # as users know it: "Pinpoint", "Lambda"
    model: ServiceModel
    errors: ErrorStyle
    handlers: dict  # operation name -> callable(ctx, params) -> dict

    def error_status(self, code: str, kind: str) -> int:
        try:
            shape = self.model.shape_for(code)
            return int(shape.metadata["error"]["httpStatusCode"])
        except Exception:
            return UNMODELED_STATUS.get(code, KIND_STATUS.get(kind, 400))
