"""The function channel: a campaign batch handed to a function Tidings runs, after the
function's resource policy says Pinpoint may invoke it for this campaign."""

from __future__ import annotations

from tidings.channels import Attempt
from tidings.config import Settings
from tidings.domain import delivery
from tidings.domain import functions as function_rules
from tidings.domain.common import random_uuid
from tidings.domain.errors import NotFound, Throttled, TidingsError
from tidings.functions.service import FunctionService
from tidings.store.functions import FunctionRecord


class FunctionChannel:
    def __init__(self, functions: FunctionService, settings: Settings) -> None:
        self.functions = functions
        self.settings = settings

    def authorize(self, reference: str, campaign_arn: str) -> tuple[FunctionRecord | None, str | None]:
        """The function a campaign names, or why the campaign may not invoke it."""
        region, account = self.settings.region, self.settings.account_id
        try:
            ref = function_rules.parse_ref(reference, region, account)
            record = self.functions.load(ref.name)
        except NotFound as exc:
            return None, (
                f"function {reference!r} does not exist ({exc}); create it with aws lambda create-function "
                "or tidings functions deploy"
            )
        except TidingsError as exc:  # a malformed reference
            return None, f"function {reference!r} cannot be used: {exc}"
        arn = self.functions.arn(record.name)
        decision = delivery.invoke_permission(
            record.policy, function_arn=arn, campaign_arn=campaign_arn, region=region, account=account
        )
        if not decision.allowed:
            return None, delivery.permission_message(
                record.name, arn, campaign_arn, region, decision, endpoint_url=self.settings.url
            )
        return record, None

    async def call(self, record: FunctionRecord, body: bytes, timeout_s: float) -> tuple[Attempt, bytes]:
        """One invocation; waits for a free environment rather than failing on a busy pool."""
        try:
            result = await self.functions.invoke(
                record.name,
                body,
                record=record,
                wait=True,
                timeout_s=timeout_s,
                request_id=random_uuid(),
                trusted_payload=True,
            )
        except NotFound as exc:
            return Attempt(False, False, f"function {record.name} is gone: {exc}"), b""
        except Throttled as exc:
            return Attempt(False, True, f"function {record.name} is throttled: {exc}"), b""
        except TidingsError as exc:  # e.g. its runtime is missing here, or the payload too large
            return Attempt(False, False, f"function {record.name} cannot be invoked: {exc.message}"), b""
        if result.function_error:
            text = result.payload.decode("utf-8", "replace")[:500]
            return Attempt(False, True, f"function {record.name} failed: {text}"), result.payload
        return Attempt(True, False), result.payload
