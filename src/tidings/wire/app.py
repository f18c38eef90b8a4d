"""The HTTP application: one port, every service, routed from the models."""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from tidings import __version__
from tidings.auth.authenticate import Authenticator
from tidings.auth.authorize import authorize, authorize_action
from tidings.auth.identity import Identity
from tidings.domain.errors import TidingsError
from tidings.wire.body import BODY_TIMEOUT_S, read_body
from tidings.wire.model import KIND_STATUS, PINPOINT_ERRORS, UNMODELED_STATUS, ErrorStyle, Service
from tidings.wire.protocol import parse_request, serialize_response
from tidings.wire.routing import Router

log = logging.getLogger("tidings.wire")
HEALTH_PATH = "/health"


class Call:
    """What a handler learns about the request besides its params."""

    __slots__ = ("request_id", "operation", "headers", "state", "identity", "source_ip", "secure_transport")

    def __init__(
        self,
        request_id: str,
        operation: str,
        headers: dict[str, str],
        state: Any,
        identity: Identity,
        source_ip: str | None = None,
        secure_transport: bool | None = None,
    ):
        self.request_id = request_id
        self.operation = operation
        self.headers = headers
        self.state = state  # the application's shared services (store, settings, ...)
        self.identity = identity  # whose key signed the request
        self.source_ip, self.secure_transport = source_ip, secure_transport

    def require(self, action: str, resource: str) -> None:
        """Authorize what the operation reaches besides its own resource (403 otherwise)."""
        settings = self.state.settings
        authorize_action(
            self.identity, action, resource, region=settings.region, account=settings.account_id,
            source_ip=self.source_ip, secure_transport=self.secure_transport,
        )  # fmt: skip


class WireApp:
    """ASGI application serving every operation of the given services."""

    def __init__(
        self,
        services: list[Service],
        state: Any,
        authenticator: Authenticator,
        *,
        strict_output: bool = False,
        lifespan: Callable[..., Any] | None = None,
        body_timeout_s: float = BODY_TIMEOUT_S,
    ) -> None:
        self.services = services
        self.router = Router(services)
        self.state = state
        self.authenticator = authenticator
        self.strict_output = strict_output
        self.lifespan = lifespan
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        if request.method == "GET" and scope["path"] == HEALTH_PATH:
            response = await self.health()
        else:
            response = await self.handle(request)
        await response(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    if self.lifespan is not None:
                        await self.lifespan("startup", self.state)
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.lifespan is not None:
                    await self.lifespan("shutdown", self.state)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def handle(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        service: Service | None = None
        try:
            raw_path = request.scope.get("raw_path", b"").decode("latin-1").split("?", 1)[0]
            query: dict[str, list[str]] = {}
            for key, value in parse_qsl(request.url.query, keep_blank_values=True):
                query.setdefault(key, []).append(value)
            route, labels = self.router.match(request.method, raw_path or request.url.path, query)
            service = route.service
            operation = route.operation
            handler = service.handlers.get(operation.name)
            if handler is None:
                raise TidingsError(
                    f"Tidings does not implement the {service.title} operation {operation.name} "
                    f"({operation.http['method']} {operation.http['requestUri']})",
                    code=service.errors.codes["unsupported"],
                )
            headers = {k.lower(): v for k, v in request.headers.items()}
            claimed = await self.authenticator.claim(request)
            limit = service.errors.body_limit(operation.name, headers)
            body = await read_body(request, limit, operation.name, self.body_timeout_s)
            identity = self.authenticator.identify(claimed, service.model.signing_name, body)
            params = parse_request(operation, labels, query, headers, body)
            settings = self.state.settings
            source_ip = request.client.host if request.client else None
            secure = request.url.scheme == "https"
            authorize(
                identity, service.title, operation.name, params,
                region=settings.region, account=settings.account_id,
                source_ip=source_ip, secure_transport=secure,
            )  # fmt: skip
            call = Call(request_id, operation.name, headers, self.state, identity, source_ip, secure)
            if inspect.iscoroutinefunction(handler):
                output = await handler(call, params)
            else:
                output = await run_in_threadpool(handler, call, params)
            status, out_headers, out_body, content_type = serialize_response(
                operation, output, strict=self.strict_output
            )
            out_headers["x-amzn-RequestId"] = request_id
            return Response(out_body, status, out_headers, media_type=content_type)
        except TidingsError as error:
            owner = service or error.extra.get("service")
            return error_response(owner if isinstance(owner, Service) else None, error, request_id)
        except Exception:
            log.exception("unexpected failure in %s %s", request.method, request.url.path)
            failure = TidingsError(
                f"Tidings failed unexpectedly while handling this request; the server log has "
                f"the details under request id {request_id}"
            )
            return error_response(service, failure, request_id)

    async def health(self) -> Response:
        """The one unauthenticated route: the version, and whether the store answers."""
        try:
            await run_in_threadpool(self.state.db.ping)
            store, status = "ok", 200
        except Exception as exc:
            log.warning("health: the store does not answer: %s", exc)
            store, status = "unavailable", 503
        body = {"status": "ok" if status == 200 else "unavailable", "version": __version__, "store": store}
        return Response(orjson.dumps(body), status, media_type="application/json")


def error_response(service: Service | None, error: TidingsError, request_id: str) -> Response:
    style: ErrorStyle = service.errors if service else PINPOINT_ERRORS
    code = error.code or style.codes.get(error.kind, style.codes["internal"])
    status = service.error_status(code, error.kind) if service else _status_without(code, error)
    body: dict[str, Any] = dict(style.extra_body)
    for key in style.body_keys:
        body[key] = error.message
    if style.request_id_key:
        body[style.request_id_key] = request_id
    for key, value in error.extra.items():
        if key[:1].isupper():  # extra members of the error shape, e.g. Lambda's Reason
            body[key] = value
    headers = {"x-amzn-ErrorType": code, "x-amzn-RequestId": request_id}
    if "allow" in error.extra:
        headers["Allow"] = str(error.extra["allow"])
    if error.extra.get("close_connection"):
        headers["Connection"] = "close"
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def _status_without(code: str, error: TidingsError) -> int:
    return UNMODELED_STATUS.get(code, KIND_STATUS.get(error.kind, 500))
