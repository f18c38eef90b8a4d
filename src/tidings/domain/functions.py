"""Lambda's rules for functions: names and ARNs, configuration, and the policy statements
AddPermission builds."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from tidings.domain.errors import Conflict, InvalidInput, NotFound

RESERVED_VARIABLES = frozenset(
    {
        "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
    }
)  # fmt: skip
MAX_VARIABLES_BYTES = 4 * 1024
MAX_TIMEOUT_S = 900
MAX_MEMORY_MB = 10_240
MAX_POLICY_BYTES = 20 * 1024
# Lambda's request quotas: an Invoke payload (synchronous, Event), and a CreateFunction or
# UpdateFunctionCode request (a 50 MB zip, base64-encoded, in JSON).
MAX_SYNC_PAYLOAD = 6 * 1024 * 1024
MAX_ASYNC_PAYLOAD = 1024 * 1024
MAX_CODE_REQUEST_BYTES = 70_167_211
DEFAULTS = {"Timeout": 3, "MemorySize": 128, "Description": ""}
# Configuration Lambda acts on and Tidings cannot: refused when set, rather than stored and
# ignored. Each says why and what to do instead. Empty forms (no layers, a VpcConfig with no
# subnets, a DeadLetterConfig without a target), which tools send by default, are fine.
NOT_ACTED_ON = {
    "Layers": "Tidings does not run layers; put the layer's files into the function's zip",
    "VpcConfig": "functions run on the Tidings host's own network; VPC settings do not apply",
    "DeadLetterConfig": (
        "Tidings has no SQS queue or SNS topic to send failed Event invocations to; they are retried "
        "twice and then logged"
    ),
    "FileSystemConfigs": "Tidings does not mount EFS file systems",
    "KMSKeyArn": "Tidings keeps environment variables in its own store; there is no AWS KMS key to encrypt them with",
    "CodeSigningConfigArn": "Tidings does not check code signatures",
    "ImageConfig": "Tidings runs Zip packages only",
}


def check_no_publish(params: dict) -> None:
    """Publish asks for a numbered version, and Tidings keeps $LATEST only."""
    if params.get("Publish"):
        raise InvalidInput(
            "Publish is not supported: Tidings keeps only $LATEST (no numbered versions or aliases); "
            "leave Publish out or false",
            member="Publish",
        )


def _is_set(value: object) -> bool:
    if isinstance(value, dict):
        return any(_is_set(v) for v in value.values())
    return bool(value)
_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_SERVICE_PRINCIPAL = re.compile(r"[a-z0-9][a-z0-9.-]*\.amazonaws\.com(\.cn)?")
_AWS_PRINCIPAL = re.compile(r"arn:aws[a-zA-Z-]*:(iam|sts)::\d{12}:\S+")


@dataclass(frozen=True)
class FunctionRef:
    name: str
    qualifier: str | None


def lambda_date(moment: datetime | None = None) -> str:
    """Lambda's LastModified form: 2026-11-24T16:08:34.123+0000."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def function_arn(region: str, account: str, name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def parse_ref(text: str, region: str, account: str, qualifier: str | None = None) -> FunctionRef:
    """A function name, partial ARN or ARN (each optionally with ``:qualifier``)."""
    parts = text.split(":")
    if text.startswith("arn:"):
        if len(parts) not in (7, 8) or parts[2] != "lambda" or parts[5] != "function":
            raise InvalidInput(f"{text!r} is not a Lambda function ARN", member="FunctionName")
        if parts[3] != region:
            raise NotFound(f"Functions from '{parts[3]}' are not reachable in this region ('{region}')")
        if parts[4] != account:
            raise NotFound(f"Function not found: {text}")
        name, named_qualifier = parts[6], (parts[7] if len(parts) == 8 else None)
    elif len(parts) >= 3 and parts[1] == "function":
        if parts[0] != account:
            raise NotFound(f"Function not found: {text}")
        name, named_qualifier = parts[2], (parts[3] if len(parts) == 4 else None)
    else:
        name, named_qualifier = parts[0], (parts[1] if len(parts) == 2 else None)
    if qualifier is not None and named_qualifier is not None and qualifier != named_qualifier:
        raise InvalidInput(
            "The derived qualifier from the function name does not match the specified qualifier.",
            member="Qualifier",
        )
    return FunctionRef(name, qualifier or named_qualifier)


def check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            f"1 validation error detected: Value '{name}' at 'functionName' failed to satisfy constraint: "
            "Member must be 1 to 64 letters, digits, hyphens or underscores",
            member="FunctionName",
        )


def check_configuration(config: dict) -> None:
    timeout = config.get("Timeout", DEFAULTS["Timeout"])
    if not 1 <= timeout <= MAX_TIMEOUT_S:
        raise InvalidInput(
            f"Value {timeout} at 'timeout' failed to satisfy constraint: Member must be between 1 and {MAX_TIMEOUT_S}",
            member="Timeout",
        )
    memory = config.get("MemorySize", DEFAULTS["MemorySize"])
    if not 128 <= memory <= MAX_MEMORY_MB:
        raise InvalidInput(
            f"Value {memory} at 'memorySize' failed to satisfy constraint: Member must be between 128 and {MAX_MEMORY_MB}",
            member="MemorySize",
        )
    variables = (config.get("Environment") or {}).get("Variables") or {}
    reserved = sorted(RESERVED_VARIABLES.intersection(variables))
    if reserved:
        raise InvalidInput(
            "Lambda was unable to configure your environment variables because the environment variables you "
            "have provided contains reserved keys that are currently not supported for modification. "
            f"Reserved keys used in this request: {', '.join(reserved)}",
            member="Environment.Variables",
        )
    size = len(orjson.dumps(variables))
    if size > MAX_VARIABLES_BYTES:
        raise InvalidInput(
            "Lambda was unable to configure your environment variables because the environment variables you "
            f"have provided exceeded the 4KB limit. String measured: {size} bytes",
            member="Environment.Variables",
        )
    for member, why in NOT_ACTED_ON.items():
        if _is_set(config.get(member)):
            raise InvalidInput(f"{member} is not supported: {why}. Leave {member} out", member=member)
    if config.get("PackageType", "Zip") != "Zip":
        raise InvalidInput("Tidings runs Zip packages only; PackageType Image is not supported", member="PackageType")
    if not config.get("Handler"):
        raise InvalidInput("Handler is required for Zip packages", member="Handler")
    if not config.get("Runtime"):
        raise InvalidInput("Runtime is required for Zip packages", member="Runtime")


def configuration(
    name: str,
    config: dict,
    *,
    arn: str,
    code_sha256: str,
    code_size: int,
    revision_id: str,
    last_modified: str,
    listing: bool = False,
) -> dict:
    """A FunctionConfiguration; list entries leave out the state members, as Lambda's do."""
    variables = (config.get("Environment") or {}).get("Variables")
    result = {
        "FunctionName": name,
        "FunctionArn": arn,
        "Runtime": config.get("Runtime"),
        "Role": config.get("Role"),
        "Handler": config.get("Handler"),
        "CodeSize": code_size,
        "Description": config.get("Description", DEFAULTS["Description"]),
        "Timeout": config.get("Timeout", DEFAULTS["Timeout"]),
        "MemorySize": config.get("MemorySize", DEFAULTS["MemorySize"]),
        "LastModified": last_modified,
        "CodeSha256": code_sha256,
        "Version": "$LATEST",
        "Environment": {"Variables": variables} if variables is not None else None,
        "TracingConfig": {"Mode": (config.get("TracingConfig") or {}).get("Mode", "PassThrough")},
        "RevisionId": revision_id,
        "PackageType": "Zip",
        "Architectures": config.get("Architectures") or ["x86_64"],
        "EphemeralStorage": config.get("EphemeralStorage") or {"Size": 512},
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"},
        "DeadLetterConfig": config.get("DeadLetterConfig"),
        "Layers": None,
    }
    if not listing:
        result.update(State="Active", LastUpdateStatus="Successful")
    return result


# --- resource policies -----------------------------------------------------------------


def principal_element(principal: str) -> dict | str:
    """How AddPermission writes its Principal parameter into a statement."""
    if principal == "*":
        return "*"
    if principal.isdigit() and len(principal) == 12:
        return {"AWS": f"arn:aws:iam::{principal}:root"}
    if _AWS_PRINCIPAL.fullmatch(principal):
        return {"AWS": principal}
    if _SERVICE_PRINCIPAL.fullmatch(principal):
        return {"Service": principal}
    raise InvalidInput("The provided principal was invalid. Please check the principal and try again.", member="Principal")


def statement(params: dict, resource: str) -> dict:
    """The statement AddPermission adds, keys in Lambda's order."""
    built: dict = {
        "Sid": params["StatementId"],
        "Effect": "Allow",
        "Principal": principal_element(params["Principal"]),
        "Action": params["Action"],
        "Resource": resource,
    }
    equals = {}
    if "SourceAccount" in params:
        equals["AWS:SourceAccount"] = params["SourceAccount"]
    if "FunctionUrlAuthType" in params:
        equals["lambda:FunctionUrlAuthType"] = params["FunctionUrlAuthType"]
    if "PrincipalOrgID" in params:
        equals["aws:PrincipalOrgID"] = params["PrincipalOrgID"]
    if "EventSourceToken" in params:
        equals["lambda:EventSourceToken"] = params["EventSourceToken"]
    condition: dict = {}
    if equals:
        condition["StringEquals"] = equals
    if "SourceArn" in params:
        condition["ArnLike"] = {"AWS:SourceArn": params["SourceArn"]}
    if condition:
        built["Condition"] = condition
    return built


def add_statement(policy: dict | None, new: dict) -> dict:
    policy = policy or {"Version": "2012-10-17", "Id": "default", "Statement": []}
    if any(s.get("Sid") == new["Sid"] for s in policy["Statement"]):
        raise Conflict(
            f"The statement id ({new['Sid']}) provided already exists. Please provide a new statement id, "
            "or remove the existing statement."
        )
    result = {**policy, "Statement": [*policy["Statement"], new]}
    size = len(orjson.dumps(result))
    if size > MAX_POLICY_BYTES:
        raise InvalidInput(
            f"The final policy size ({size}) is bigger than the limit ({MAX_POLICY_BYTES}).",
            code="PolicyLengthExceededException",
        )
    return result


def remove_statement(policy: dict | None, sid: str) -> dict | None:
    """The policy without statement ``sid``; None once the last statement is gone."""
    if not policy or not policy.get("Statement"):
        raise NotFound("No policy is associated with the given resource.")
    kept = [s for s in policy["Statement"] if s.get("Sid") != sid]
    if len(kept) == len(policy["Statement"]):
        raise NotFound(f"Statement {sid} is not found in resource policy.")
    return {**policy, "Statement": kept} if kept else None


def compact_json(document: dict) -> str:
    return orjson.dumps(document).decode()
