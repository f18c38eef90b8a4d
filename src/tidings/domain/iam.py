"""Resource-policy evaluation for function invocations, as Lambda and IAM decide them.

Pure: no I/O. ``evaluate`` answers whether a request (principal, action, resource and
condition context) is allowed by a resource policy:

- an applying statement with Effect Deny wins; else an applying Allow allows; else the
  default is deny;
- a statement applies when its Principal (or NotPrincipal), Action (or NotAction),
  Resource (or NotResource) and every Condition match;
- several values of one element or condition key OR together; several keys and several
  operators AND together; condition key names compare case-insensitively;
- an operator this module does not know makes an Allow statement not apply and a Deny
  statement apply, so an unknown operator can never grant access (fail closed).

Globs (``*`` any run, ``?`` one character) are matched by a small two-pointer matcher:
every other character is literal, and no regular expression is built from policy text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ARN_PARTS = 6


@dataclass(frozen=True)
class Request:
    principal: str  # a service principal ("pinpoint.us-east-1.amazonaws.com") or an AWS ARN/account
    action: str  # "lambda:InvokeFunction"
    resource: str  # the ARN invoked, with its qualifier if one was used
    context: dict[str, str | list[str]] = field(default_factory=dict)
    principal_type: str = "Service"  # "Service" or "AWS"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    effect: str  # "Allow", "Deny" (explicit) or "ImplicitDeny"
    statement: str | None = None  # Sid of the deciding statement
    reason: str = ""


# --- globs and ARNs --------------------------------------------------------------------


def glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """``*`` matches any run (also empty), ``?`` exactly one character; nothing else is special."""
    if ignore_case:
        pattern, value = pattern.lower(), value.lower()
    p = v = 0
    star, star_v = -1, 0
    while v < len(value):
        if p < len(pattern) and (pattern[p] == "?" or pattern[p] == value[v]):
            p += 1
            v += 1
        elif p < len(pattern) and pattern[p] == "*":
            star, star_v = p, v
            p += 1
        elif star >= 0:
            # Let the last star swallow one more character and retry from there.
            p = star + 1
            star_v += 1
            v = star_v
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


def arn_like(pattern: str, value: str) -> bool:
    """ArnLike / ArnEquals: the six colon-separated parts compared one by one, case-sensitively.

    The sixth part (the resource) keeps any further colons. A value or pattern with fewer
    than six parts is not an ARN and matches nothing.
    """
    pattern_parts = pattern.split(":", ARN_PARTS - 1)
    value_parts = value.split(":", ARN_PARTS - 1)
    if len(pattern_parts) != ARN_PARTS or len(value_parts) != ARN_PARTS:
        return False
    return all(glob_match(p, v) for p, v in zip(pattern_parts, value_parts, strict=True))


def _resource_match(pattern: str, resource: str) -> bool:
    if pattern == "*":
        return True
    if len(pattern.split(":", ARN_PARTS - 1)) == ARN_PARTS:
        return arn_like(pattern, resource)
    return glob_match(pattern, resource)


# --- principals ----------------------------------------------------------------------


def _service_region(service: str) -> tuple[str, str | None]:
    """Split ``svc.region.amazonaws.com`` into (svc, region); the global form has no region."""
    name = service.lower().removesuffix(".amazonaws.com")
    head, _, region = name.partition(".")
    return head, (region or None)


def _service_match(allowed: str, caller: str, region: str | None) -> bool:
    if allowed.lower() == caller.lower():
        return True
    # pinpoint.amazonaws.com and pinpoint.<region>.amazonaws.com name the same principal
    # within the function's own region.
    allowed_svc, allowed_region = _service_region(allowed)
    caller_svc, caller_region = _service_region(caller)
    if allowed_svc != caller_svc or not allowed.lower().endswith(".amazonaws.com"):
        return False
    regions = {allowed_region, caller_region} - {None}
    return len(regions) == 1 and (region is None or regions == {region})


def _account_of(principal: str) -> str | None:
    if principal.isdigit() and len(principal) == 12:
        return principal
    parts = principal.split(":")
    if len(parts) >= 6 and parts[0] == "arn" and parts[2] in ("iam", "sts"):
        return parts[4]
    return None


def _aws_match(allowed: str, caller: str) -> bool:
    if allowed == "*":
        return True
    if allowed == caller:
        return True
    account = _account_of(allowed)
    if account and (allowed.isdigit() or allowed.endswith(":root")):
        return _account_of(caller) == account
    # An assumed-role session acts as its role.
    if caller.startswith("arn:aws:sts::") and ":assumed-role/" in caller:
        account, rest = caller.split(":")[4], caller.split(":assumed-role/", 1)[1]
        return allowed == f"arn:aws:iam::{account}:role/{rest.split('/')[0]}"
    return False


def _principal_match(element: object, request: Request) -> bool:
    if element == "*":
        return True
    if not isinstance(element, dict):
        return False
    region = _region_of(request.resource)
    for kind, values in element.items():
        for value in _as_list(values):
            if kind == "AWS" and request.principal_type == "AWS" and _aws_match(value, request.principal):
                return True
            if kind == "AWS" and value == "*":
                return True
            if (
                kind == "Service"
                and request.principal_type == "Service"
                and _service_match(value, request.principal, region)
            ):
                return True
    return False


def _region_of(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 and parts[0] == "arn" else None


# --- conditions ----------------------------------------------------------------------

UNKNOWN = None  # the result of an operator this module does not implement


def _string_equals(pattern: str, value: str) -> bool:
    return pattern == value


def _string_equals_ignore_case(pattern: str, value: str) -> bool:
    return pattern.lower() == value.lower()


def _string_like(pattern: str, value: str) -> bool:
    return glob_match(pattern, value)


def _bool(pattern: str, value: str) -> bool:
    return pattern.lower() == value.lower()


# base operator -> (test, negated)
_OPERATORS = {
    "stringequals": (_string_equals, False),
    "stringnotequals": (_string_equals, True),
    "stringequalsignorecase": (_string_equals_ignore_case, False),
    "stringnotequalsignorecase": (_string_equals_ignore_case, True),
    "stringlike": (_string_like, False),
    "stringnotlike": (_string_like, True),
    "arnequals": (arn_like, False),
    "arnlike": (arn_like, False),
    "arnnotequals": (arn_like, True),
    "arnnotlike": (arn_like, True),
    "bool": (_bool, False),
}


def _condition(operator: str, key: str, wanted: list[str], context: dict[str, list[str]]) -> bool | None:
    name = operator.lower()
    set_mode = None
    for prefix in ("foranyvalue:", "forallvalues:"):
        if name.startswith(prefix):
            set_mode, name = prefix[:-1], name[len(prefix) :]
    if_exists = name.endswith("ifexists")
    if if_exists:
        name = name[: -len("ifexists")]
    present = context.get(key.lower())
    if name == "null":
        if set_mode or if_exists:
            return UNKNOWN
        absent = not present
        return any((w.lower() == "true") == absent for w in wanted)
    if name not in _OPERATORS:
        return UNKNOWN
    test, negated = _OPERATORS[name]
    if set_mode == "foranyvalue":
        return bool(present) and any(_one(test, negated, wanted, v) for v in present)
    if set_mode == "forallvalues":
        return not present or all(_one(test, negated, wanted, v) for v in present)
    if not present:
        return if_exists or negated
    return any(_one(test, negated, wanted, v) for v in present)


def _one(test, negated: bool, wanted: list[str], value: str) -> bool:
    hit = any(test(w, value) for w in wanted)
    return not hit if negated else hit


def _conditions(block: object, context: dict[str, list[str]]) -> bool | None:
    """True when every condition holds, False when one fails, UNKNOWN for an unknown operator."""
    if not block:
        return True
    if not isinstance(block, dict):
        return UNKNOWN
    result: bool | None = True
    for operator, keys in block.items():
        if not isinstance(keys, dict):
            return UNKNOWN
        for key, values in keys.items():
            outcome = _condition(operator, key, [_text(v) for v in _as_list(values)], context)
            if outcome is UNKNOWN:
                return UNKNOWN
            if not outcome:
                result = False
    return result


# --- statements and policies -----------------------------------------------------------


def _as_list(value: object) -> list:
    return value if isinstance(value, list) else [value]


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _element(statement: dict, name: str, match) -> bool | None:
    """Match ``name`` or ``Not<name>``; None when the statement has neither."""
    if name in statement:
        return any(match(v) for v in _as_list(statement[name]))
    if f"Not{name}" in statement:
        return not any(match(v) for v in _as_list(statement[f"Not{name}"]))
    return None


def _applies(statement: dict, request: Request, context: dict[str, list[str]]) -> tuple[bool, str]:
    if "Principal" in statement:
        principal = _principal_match(statement["Principal"], request)
    elif "NotPrincipal" in statement:
        principal = not _principal_match(statement["NotPrincipal"], request)
    else:
        return False, "it names no Principal"
    if not principal:
        return False, f"its Principal does not include {request.principal}"
    action = _element(statement, "Action", lambda p: glob_match(p, request.action, ignore_case=True))
    if not action:
        return False, f"its Action does not include {request.action}"
    resource = _element(statement, "Resource", lambda p: _resource_match(p, request.resource))
    if resource is False:
        return False, f"its Resource does not include {request.resource}"
    conditions = _conditions(statement.get("Condition"), context)
    if conditions is UNKNOWN:
        # Fail closed: an unknown operator never lets an Allow grant, and always lets a Deny deny.
        applies = statement.get("Effect") == "Deny"
        return applies, "its Condition uses an operator Tidings does not evaluate"
    if not conditions:
        return False, "its Condition does not hold for this request"
    return True, "it matches"


def evaluate(policy: dict | None, request: Request) -> Decision:
    if not policy:
        return Decision(False, "ImplicitDeny", reason="the function has no resource policy")
    context = {k.lower(): [_text(v) for v in _as_list(val)] for k, val in request.context.items()}
    allow: dict | None = None
    reasons = []
    for statement in _as_list(policy.get("Statement", [])):
        if not isinstance(statement, dict):
            continue
        applies, why = _applies(statement, request, context)
        sid = statement.get("Sid")
        if not applies:
            reasons.append(f"statement {sid!r}: {why}")
            continue
        if statement.get("Effect") == "Deny":
            return Decision(False, "Deny", sid, f"statement {sid!r} denies it explicitly")
        if statement.get("Effect") == "Allow" and allow is None:
            allow = statement
    if allow is not None:
        return Decision(True, "Allow", allow.get("Sid"), f"statement {allow.get('Sid')!r} allows it")
    detail = "; ".join(reasons) if reasons else "the policy has no statements"
    return Decision(False, "ImplicitDeny", reason=f"no statement allows it ({detail})")


def check_identity_policy(document: object) -> None:
    """Refuse (InvalidInput) an identity policy a key cannot carry.

    (Placeholder: only the outer shape is checked until identity policies are evaluated.)
    """
    from tidings.domain.errors import InvalidInput

    if not isinstance(document, dict) or "Statement" not in document:
        raise InvalidInput("an identity policy is a JSON object with a Statement")
