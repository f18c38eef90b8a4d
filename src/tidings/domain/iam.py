"""IAM policy evaluation: resource policies (function invocations) and identity policies (keys).

Pure: no I/O. ``evaluate`` answers whether a request (principal, action, resource and
condition context) is allowed by a resource policy; ``evaluate_identity`` answers the same
for a key's identity policy, which names no Principal. Both decide as IAM does:

- an applying statement with Effect Deny wins; else an applying Allow allows; else the
  default is deny;
- a statement applies when its Principal (or NotPrincipal; resource policies only), Action
  (or NotAction), Resource (or NotResource) and every Condition match;
- several values of one element or condition key OR together; several keys and several
  operators AND together; condition key names compare case-insensitively;
- a condition key with no value in the request context does not match (a negated operator
  such as StringNotEquals then holds, as in IAM);
- an operator this module does not know makes an Allow statement not apply and a Deny
  statement apply, so an unknown operator can never grant access (fail closed).

Globs (``*`` any run, ``?`` one character) are matched by a small two-pointer matcher:
every other character is literal, and no regular expression is built from policy text.
``check_identity_policy`` refuses an identity policy a key cannot carry.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from tidings.domain.arns import SERVICE as PINPOINT_SERVICE
from tidings.domain.errors import InvalidInput

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
    # Most policy text is literal or a literal prefix followed by one star: answer those
    # without the character loop (every request with a scoped key runs a dozen of these).
    if "?" not in pattern:
        stars = pattern.count("*")
        if stars == 0:
            return pattern == value
        if stars == 1 and pattern.endswith("*"):
            return value.startswith(pattern[:-1])
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
        return arn_like(_current_spelling(pattern), resource)
    return glob_match(pattern, resource)


def _current_spelling(arn: str) -> str:
    """Pinpoint's older ``...:/apps/<id>`` spelling names the same resource as ``...:apps/<id>``."""
    parts = arn.split(":", ARN_PARTS - 1)
    if parts[2] == PINPOINT_SERVICE and parts[5].startswith("/apps/"):
        parts[5] = parts[5][1:]
    return ":".join(parts)


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


def _number(text: str) -> Decimal | None:
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _date(text: str) -> datetime | None:
    """A date condition value: ISO 8601 (``2026-12-04T15:00:00Z``) or seconds since the epoch."""
    try:
        if text.isdigit():
            return datetime.fromtimestamp(int(text), UTC)
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _compare(parse, holds):
    """A test that parses both sides; a side that does not parse makes it not match."""

    def test(pattern: str, value: str) -> bool:
        wanted, actual = parse(pattern), parse(value)
        return wanted is not None and actual is not None and holds(actual, wanted)

    return test


def _ip_in(pattern: str, value: str) -> bool:
    try:
        return ipaddress.ip_address(value) in ipaddress.ip_network(pattern, strict=False)
    except ValueError:
        return False


_ORDERS = {
    "equals": lambda a, b: a == b,
    "lessthan": lambda a, b: a < b,
    "lessthanequals": lambda a, b: a <= b,
    "greaterthan": lambda a, b: a > b,
    "greaterthanequals": lambda a, b: a >= b,
}

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
    "ipaddress": (_ip_in, False),
    "notipaddress": (_ip_in, True),
    **{f"numeric{name}": (_compare(_number, holds), False) for name, holds in _ORDERS.items()},
    "numericnotequals": (_compare(_number, _ORDERS["equals"]), True),
    **{f"date{name}": (_compare(_date, holds), False) for name, holds in _ORDERS.items()},
    "datenotequals": (_compare(_date, _ORDERS["equals"]), True),
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
    return _covers(statement, request.action, request.resource, context)


def _covers(statement: dict, action: str, resource: str, context: dict[str, list[str]]) -> tuple[bool, str]:
    """Whether the statement's Action, Resource and Condition take in this request."""
    if not _element(statement, "Action", lambda p: glob_match(p, action, ignore_case=True)):
        return False, f"its Action does not include {action}"
    if _element(statement, "Resource", lambda p: _resource_match(p, resource)) is False:
        return False, f"its Resource does not include {resource}"
    conditions = _conditions(statement.get("Condition"), context)
    if conditions is UNKNOWN:
        # Fail closed: an unknown operator never lets an Allow grant, and always lets a Deny deny.
        applies = statement.get("Effect") == "Deny"
        return applies, "its Condition uses an operator Tidings does not evaluate"
    if not conditions:
        return False, "its Condition does not hold for this request"
    return True, "it matches"


def _decide(policy: dict, applies) -> Decision:
    """Deny wins over Allow; without an applying Allow the answer is an implicit deny."""
    allow: dict | None = None
    reasons = []
    for statement in _as_list(policy.get("Statement", [])):
        if not isinstance(statement, dict):
            continue
        applied, why = applies(statement)
        sid = statement.get("Sid")
        if not applied:
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


def _context(values: dict[str, str | list[str]]) -> dict[str, list[str]]:
    return {k.lower(): [_text(v) for v in _as_list(val)] for k, val in values.items()}


def evaluate(policy: dict | None, request: Request) -> Decision:
    """A resource policy's answer for ``request``."""
    if not policy:
        return Decision(False, "ImplicitDeny", reason="the function has no resource policy")
    context = _context(request.context)
    return _decide(policy, lambda statement: _applies(statement, request, context))


def evaluate_identity(
    policy: dict | None, action: str, resource: str, context: dict[str, str | list[str]]
) -> Decision:
    """An identity policy's answer for calling ``action`` on ``resource``.

    Identity policies name no Principal: every statement speaks for the key that carries it.
    """
    if not policy:
        return Decision(False, "ImplicitDeny", reason="the key has no identity policy")
    values = _context(context)
    return _decide(policy, lambda statement: _covers(statement, action, resource, values))


# --- what an identity policy may say -----------------------------------------------------

# IAM's bound for a managed policy, in characters not counting white space.
MAX_IDENTITY_POLICY_CHARS = 6144
POLICY_VERSIONS = ("2012-10-17", "2008-10-17")
_POLICY_ELEMENTS = {"Version", "Id", "Statement"}
_STATEMENT_ELEMENTS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
_SID = re.compile(r"[A-Za-z0-9]*")
_ACTION = re.compile(r"\*|[A-Za-z0-9*?-]+:[A-Za-z0-9*?]+")


def check_identity_policy(document: object) -> None:
    """Refuse (InvalidInput) an identity policy a key cannot carry, naming the element at fault."""
    if not isinstance(document, dict):
        raise InvalidInput("An identity policy must be a JSON object with a Statement element")
    size = sum(not c.isspace() for c in json.dumps(document, separators=(",", ":")))
    if size > MAX_IDENTITY_POLICY_CHARS:
        raise InvalidInput(
            f"The identity policy is {size} characters long (not counting white space); "
            f"a policy may have at most {MAX_IDENTITY_POLICY_CHARS}"
        )
    for name in document:
        if name not in _POLICY_ELEMENTS:
            raise InvalidInput(
                f"The identity policy has an unknown element {name!r}; a policy has "
                "Version, Id and Statement"
            )
    if "Version" in document and document["Version"] not in POLICY_VERSIONS:
        raise InvalidInput(
            f"Version {document['Version']!r} is not a policy language version; use \"2012-10-17\""
        )
    if "Id" in document and not isinstance(document["Id"], str):
        raise InvalidInput("Id must be a string")
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise InvalidInput("Statement must be a statement object or a non-empty list of them")
    for index, statement in enumerate(statements):
        _check_statement(statement, f"Statement[{index}]")


def _check_statement(statement: object, where: str) -> None:
    if not isinstance(statement, dict):
        raise InvalidInput(f"{where} must be a JSON object")
    for name in statement:
        if name in ("Principal", "NotPrincipal"):
            raise InvalidInput(
                f"{where} has a {name}: an identity policy names no principal, it applies to "
                "the key that carries it; remove the element"
            )
        if name not in _STATEMENT_ELEMENTS:
            raise InvalidInput(
                f"{where} has an unknown element {name!r}; a statement has "
                f"{', '.join(sorted(_STATEMENT_ELEMENTS))}"
            )
    sid = statement.get("Sid", "")
    if not isinstance(sid, str) or not _SID.fullmatch(sid):
        raise InvalidInput(f"{where}.Sid must be letters and digits only, got {sid!r}")
    if statement.get("Effect") not in ("Allow", "Deny"):
        raise InvalidInput(f"{where}.Effect must be \"Allow\" or \"Deny\", got {statement.get('Effect')!r}")
    action_element = _one_of(statement, "Action", where)
    for action in _strings(statement[action_element], f"{where}.{action_element}"):
        if not _ACTION.fullmatch(action):
            raise InvalidInput(
                f"{where}.{action_element} {action!r} is not an action: write service:Name, "
                "such as mobiletargeting:PutEvents or lambda:Invoke* (wildcards * and ? allowed)"
            )
    resource_element = _one_of(statement, "Resource", where)
    for resource in _strings(statement[resource_element], f"{where}.{resource_element}"):
        parts = resource.split(":", ARN_PARTS - 1)
        if resource != "*" and (len(parts) != ARN_PARTS or parts[0] != "arn" or not parts[2] or not parts[5]):
            raise InvalidInput(
                f"{where}.{resource_element} {resource!r} is not an ARN or \"*\"; write for example "
                "arn:aws:mobiletargeting:us-east-1:000000000000:apps/<app-id>*"
            )
    if "Condition" in statement:
        _check_condition(statement["Condition"], f"{where}.Condition")


def _one_of(statement: dict, name: str, where: str) -> str:
    present = [n for n in (name, f"Not{name}") if n in statement]
    if len(present) != 1:
        raise InvalidInput(f"{where} must have exactly one of {name} and Not{name}")
    return present[0]


def _strings(value: object, where: str) -> list[str]:
    values = _as_list(value)
    if not values or not all(isinstance(v, str) and v for v in values):
        raise InvalidInput(f"{where} must be a non-empty string or a non-empty list of them")
    return values


def _check_condition(block: object, where: str) -> None:
    if not isinstance(block, dict) or not block:
        raise InvalidInput(f"{where} must be an object of operators, such as {{\"IpAddress\": {{...}}}}")
    for operator, keys in block.items():
        if not _known_operator(operator):
            raise InvalidInput(
                f"{where} uses the operator {operator!r}, which Tidings does not evaluate; known: "
                "String*, Numeric*, Date*, Bool, IpAddress, NotIpAddress, Arn*, Null, with "
                "ForAnyValue:/ForAllValues: and ...IfExists"
            )
        if not isinstance(keys, dict) or not keys:
            raise InvalidInput(f"{where}.{operator} must be an object of condition keys and values")
        for key, values in keys.items():
            listed = _as_list(values)
            if not key or not listed or not all(isinstance(v, str | int | float | bool) for v in listed):
                raise InvalidInput(
                    f"{where}.{operator}.{key} must be a value or a non-empty list of values"
                )


def _known_operator(operator: str) -> bool:
    name = operator.lower()
    for prefix in ("foranyvalue:", "forallvalues:"):
        name = name.removeprefix(prefix)
    if name == "null":
        return name == operator.lower()  # Null takes no set prefix and no IfExists
    return name.removesuffix("ifexists") in _OPERATORS
