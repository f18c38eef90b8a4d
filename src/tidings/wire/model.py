"""Service models loaded from the installed botocore, and how each service spells its errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import botocore.session
from botocore.exceptions import UnknownServiceError
from botocore.model import ServiceModel

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
    # Sizes: the largest request body the service takes at all.
    max_body_bytes: int = 7 * 1024 * 1024


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
)

LAMBDA_ERRORS = ErrorStyle(
    codes={
        "invalid": "InvalidParameterValueException",
        "not_found": "ResourceNotFoundException",
        "conflict": "ResourceConflictException",
        "forbidden": "AccessDeniedException",
        "too_large": "RequestTooLargeException",
        "throttled": "TooManyRequestsException",
        "unsupported": "InvalidRequestContentException",
        "internal": "ServiceException",
    },
    body_keys=("Message", "message"),
    extra_body={"Type": "User"},
    max_body_bytes=70_167_211,
)

# Status codes for error codes a service sends that its model does not declare.
UNMODELED_STATUS = {
    "ValidationException": 400,
    "RequestEntityTooLargeException": 413,
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
