"""Routes derived from the request URIs of botocore's operation models.

Matching runs on the raw (still percent-encoded) path: botocore encodes every label with
no safe characters, so an id such as ``a/b`` arrives as ``a%2Fb`` and must stay one
segment until the route is chosen. Labels are decoded afterwards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from botocore.model import OperationModel

from tidings.domain.errors import NotFound, TidingsError
from tidings.wire.model import Service

_LABEL = re.compile(r"\{([^}]+?)(\+?)\}")


@dataclass(frozen=True)
class Route:
    service: Service
    operation: OperationModel
    method: str
    pattern: re.Pattern[str]
    labels: tuple[str, ...]
    required_query: tuple[tuple[str, str | None], ...]
    specificity: tuple[int, int]

    def match(self, raw_path: str, query: dict[str, list[str]]) -> dict[str, str] | None:
        found = self.pattern.fullmatch(raw_path)
        if found is None:
            return None
        for key, value in self.required_query:
            if key not in query or (value is not None and value not in query[key]):
                return None
        return {name: unquote(found.group(i + 1)) for i, name in enumerate(self.labels)}


def _compile(service: Service, operation: OperationModel) -> Route:
    uri = operation.http["requestUri"]
    path, _, literal_query = uri.partition("?")
    labels: list[str] = []
    regex = []
    last = 0
    literal_chars = 0
    greedy = 0
    for found in _LABEL.finditer(path):
        literal = path[last : found.start()]
        literal_chars += len(literal)
        regex.append(re.escape(literal))
        labels.append(found.group(1))
        if found.group(2):
            greedy += 1
            regex.append("(.+)")
        else:
            regex.append("([^/]+)")
        last = found.end()
    regex.append(re.escape(path[last:]))
    literal_chars += len(path) - last
    required = []
    for part in filter(None, literal_query.split("&")):
        key, sep, value = part.partition("=")
        required.append((key, value if sep else None))
    return Route(
        service=service,
        operation=operation,
        method=operation.http["method"],
        pattern=re.compile("".join(regex) + "/?"),
        labels=tuple(labels),
        required_query=tuple(required),
        # More literal text and more required query keys win; greedy labels lose.
        specificity=(literal_chars + 100 * len(required), -greedy),
    )


class MethodNotAllowed(TidingsError):
    kind = "unsupported"


class Router:
    def __init__(self, services: list[Service]) -> None:
        routes = [
            _compile(service, service.model.operation_model(name))
            for service in services
            for name in service.model.operation_names
        ]
        self.routes = sorted(routes, key=lambda r: r.specificity, reverse=True)

    def match(
        self, method: str, raw_path: str, query: dict[str, list[str]]
    ) -> tuple[Route, dict[str, str]]:
        path_matched: list[Route] = []
        for route in self.routes:
            labels = route.match(raw_path, query)
            if labels is None:
                continue
            if route.method == method:
                return route, labels
            path_matched.append(route)
        if path_matched:
            allowed = sorted({r.method for r in path_matched})
            route = path_matched[0]
            raise MethodNotAllowed(
                f"{method} is not allowed on {raw_path}; this path takes "
                f"{', '.join(allowed)} ({', '.join(r.operation.name for r in path_matched)})",
                service=route.service,
                allow=", ".join(allowed),
            )
        raise NotFound(
            f"no Pinpoint, Lambda or Tidings operation matches {method} {raw_path}; "
            "Pinpoint paths start with /v1/, Lambda paths with /2015-03-31/ and Tidings' own "
            "with /tidings/v1/",
            code="UnknownOperationException",
        )
