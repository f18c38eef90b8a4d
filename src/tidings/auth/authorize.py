"""Authorizing each operation with the caller's identity policy, as IAM does for a user.

The action and resource come from ``tidings.auth.actions``; ``tidings.domain.iam`` decides.
A refusal answers 403 AccessDeniedException in AWS's words, naming the key's user ARN, the
action and the resource.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tidings.auth.actions import required_permission
from tidings.auth.identity import Identity
from tidings.domain.errors import Forbidden
from tidings.domain.iam import evaluate_identity


def authorize(
    identity: Identity,
    service: str,
    operation: str,
    params: dict[str, Any],
    *,
    region: str,
    account: str,
    source_ip: str | None = None,
    secure_transport: bool | None = None,
    now: datetime | None = None,
) -> None:
    """Raise a 403 AccessDeniedException unless ``identity`` may call ``operation`` with ``params``.

    ``source_ip`` and ``secure_transport`` fill aws:SourceIp and aws:SecureTransport; when
    the caller does not know them, those keys are absent, so conditions on them do not match.
    """
    if identity.is_root:
        return
    user = user_arn(account, identity.name)
    permission = required_permission(service, operation, params, region=region, account=account)
    if permission is None:
        raise Forbidden(
            f"User: {user} is not authorized to perform {service} {operation}: Tidings maps no IAM "
            "action to this operation yet, so only the root key may call it",
            code="AccessDeniedException",
        )
    authorize_action(
        identity, permission.action, permission.resource, region=region, account=account,
        source_ip=source_ip, secure_transport=secure_transport, now=now,
    )  # fmt: skip


def authorize_action(
    identity: Identity,
    action: str,
    resource: str,
    *,
    region: str,
    account: str,
    source_ip: str | None = None,
    secure_transport: bool | None = None,
    now: datetime | None = None,
) -> None:
    """Raise a 403 AccessDeniedException unless ``identity``'s policy allows ``action`` on
    ``resource``: for each operation (``authorize``), and for what an operation reaches besides
    its own resource (files under --files-root)."""
    if identity.is_root:
        return
    user = user_arn(account, identity.name)
    context = request_context(
        identity, account=account, region=region, source_ip=source_ip,
        secure_transport=secure_transport, now=now or datetime.now(UTC),
    )  # fmt: skip
    decision = evaluate_identity(identity.policy, action, resource, context)
    if decision.allowed:
        return
    refused = f"User: {user} is not authorized to perform: {action} on resource: {resource}"
    if decision.effect == "Deny":
        message = f"{refused} with an explicit deny in an identity-based policy"
    else:
        message = f"{refused} because no identity-based policy allows the {action} action"
    raise Forbidden(message, code="AccessDeniedException")


def user_arn(account: str, name: str) -> str:
    """The IAM user ARN a key's name stands for in messages and in aws:PrincipalArn."""
    return f"arn:aws:iam::{account}:user/{name}"


def request_context(
    identity: Identity,
    *,
    account: str,
    region: str,
    source_ip: str | None,
    secure_transport: bool | None,
    now: datetime,
) -> dict[str, str]:
    """The global condition keys Tidings can fill honestly for this request."""
    moment = now.astimezone(UTC)
    context = {
        "aws:CurrentTime": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "aws:EpochTime": str(int(moment.timestamp())),
        "aws:PrincipalAccount": account,
        "aws:PrincipalArn": user_arn(account, identity.name),
        "aws:PrincipalType": "User",
        "aws:username": identity.name,
        "aws:RequestedRegion": region,
    }
    if source_ip is not None:
        context["aws:SourceIp"] = source_ip
    if secure_transport is not None:
        context["aws:SecureTransport"] = "true" if secure_transport else "false"
    return context
