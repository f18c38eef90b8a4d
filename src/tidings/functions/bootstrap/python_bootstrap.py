"""Runs a Python Lambda handler inside an execution environment (see protocol.md).

Started as ``python -I -S python_bootstrap.py <socket fd>``, with the function's code directory as the
working directory. Uses the standard library only: the function's own packages must win.
"""

import decimal
import importlib
import json
import logging
import os
import socket
import struct
import sys
import time
import traceback

HEADER = struct.Struct(">III")


class Connection:
    def __init__(self, fd):
        self.sock = socket.socket(fileno=fd)
        self.reader = self.sock.makefile("rb")

    def send(self, header, body=b"", log=""):
        head = json.dumps(header).encode()
        log_bytes = log.encode("utf-8", "replace")
        self.sock.sendall(HEADER.pack(len(head), len(body), len(log_bytes)) + head + body + log_bytes)

    def receive(self):
        prefix = self.reader.read(HEADER.size)
        if len(prefix) < HEADER.size:
            return None, None
        head_len, body_len, log_len = HEADER.unpack(prefix)
        header = json.loads(self.reader.read(head_len))
        body = self.reader.read(body_len)
        self.reader.read(log_len)
        return header, body


class LogBuffer:
    """Where print(), sys.stderr and logging go during an invocation."""

    def __init__(self):
        self.parts = []

    def write(self, text):
        if text:
            self.parts.append(text)
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False

    def take(self):
        text = "".join(self.parts)
        self.parts = []
        return text


class RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record):
        record.aws_request_id = RequestIdFilter.request_id
        return True


class Formatter(logging.Formatter):
    def formatTime(self, record, datefmt=None):  # noqa: N802 - logging's name
        moment = time.gmtime(record.created)
        return time.strftime("%Y-%m-%dT%H:%M:%S", moment) + f".{int(record.msecs):03d}Z"


class CognitoIdentity:
    cognito_identity_id = None
    cognito_identity_pool_id = None


class ClientContext:
    def __init__(self, document):
        self.client = document.get("client")
        self.custom = document.get("custom")
        self.env = document.get("env")


class LambdaContext:
    def __init__(self, request_id, deadline_ms, arn, client_context):
        self.aws_request_id = request_id
        self.invoked_function_arn = arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = CognitoIdentity()
        self.client_context = ClientContext(json.loads(client_context)) if client_context else None
        self.tenant_id = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        return max(0, int(self._deadline_ms - time.time() * 1000))

    def log(self, message):
        sys.stdout.write(message)


def _json_default(value):
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def error_document(exc, error_type=None, message=None, request_id=None):
    frames = traceback.extract_tb(exc.__traceback__)
    # Hide the bootstrap's own frames: the trace starts in the function's code.
    frames = [f for f in frames if f.filename != __file__]
    document = {
        "errorMessage": message if message is not None else str(exc),
        "errorType": error_type or type(exc).__name__,
    }
    if request_id is not None:
        document["requestId"] = request_id
    document["stackTrace"] = traceback.format_list(frames)
    return document


def load_handler(spec):
    module_name, _, function_name = spec.rpartition(".")
    if not module_name or not function_name:
        return None, {
            "errorMessage": f"Bad handler '{spec}': not enough values to unpack (expected 2, got 1)",
            "errorType": "Runtime.MalformedHandlerName",
            "requestId": "",
            "stackTrace": [],
        }
    module_name = module_name.replace("/", ".")
    if module_name in sys.builtin_module_names:
        return None, {
            "errorMessage": f"Cannot use built-in module {module_name} as a handler module",
            "errorType": "Runtime.BuiltInModuleConflict",
            "requestId": "",
            "stackTrace": [],
        }
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        return None, error_document(
            exc,
            "Runtime.UserCodeSyntaxError",
            f"Syntax error in module '{module_name}': {exc}",
            request_id="",
        )
    except ImportError as exc:
        return None, error_document(
            exc, "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}", request_id=""
        )
    except Exception as exc:
        return None, error_document(exc, request_id="")
    handler = getattr(module, function_name, None)
    if handler is None:
        return None, {
            "errorMessage": f"Handler '{function_name}' missing on module '{module_name}'",
            "errorType": "Runtime.HandlerNotFound",
            "requestId": "",
            "stackTrace": [],
        }
    return handler, None


def main():
    connection = Connection(int(sys.argv[-1]))
    task_root = os.environ["LAMBDA_TASK_ROOT"]
    sys.path.insert(0, task_root)
    buffer = LogBuffer()
    sys.stdout = sys.stderr = buffer
    handler_stream = logging.StreamHandler(buffer)
    handler_stream.setFormatter(Formatter("[%(levelname)s]\t%(asctime)s\t%(aws_request_id)s\t%(message)s\n"))
    handler_stream.terminator = ""
    handler_stream.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers = [handler_stream]
    root.setLevel(logging.INFO)

    started = time.perf_counter()
    handler, failure = load_handler(os.environ["_HANDLER"])
    init_ms = (time.perf_counter() - started) * 1000
    if failure is not None:
        buffer.write(f"[ERROR] {failure['errorType']}: {failure['errorMessage']}\n")
        connection.send({"type": "init_error"}, json.dumps(failure).encode(), buffer.take())
        return
    connection.send({"type": "ready", "init_ms": init_ms}, b"", buffer.take())

    while True:
        header, body = connection.receive()
        if header is None:
            return
        request_id = header["id"]
        RequestIdFilter.request_id = request_id
        context = LambdaContext(request_id, header["deadline_ms"], header["arn"], header.get("client_context"))
        try:
            event = json.loads(body) if body else {}
            result = handler(event, context)
            try:
                payload = json.dumps(result, default=_json_default).encode()
            except (TypeError, ValueError) as exc:
                raise _MarshalError(str(exc)) from None
            connection.send({"type": "result", "id": request_id, "error": False}, payload, buffer.take())
        except _MarshalError as exc:
            document = {
                "errorMessage": f"Unable to marshal response: {exc}",
                "errorType": "Runtime.MarshalError",
                "requestId": request_id,
                "stackTrace": [],
            }
            buffer.write(f"[ERROR] Runtime.MarshalError: {document['errorMessage']}\n")
            connection.send({"type": "result", "id": request_id, "error": True}, json.dumps(document).encode(), buffer.take())
        except Exception as exc:
            document = error_document(exc, request_id=request_id)
            buffer.write(f"[ERROR] {document['errorType']}: {document['errorMessage']}\n")
            buffer.write("Traceback (most recent call last):\n" + "".join(document["stackTrace"]))
            connection.send({"type": "result", "id": request_id, "error": True}, json.dumps(document).encode(), buffer.take())


class _MarshalError(Exception):
    pass


if __name__ == "__main__":
    main()
