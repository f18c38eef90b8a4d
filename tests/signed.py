"""Raw requests, SigV4-signed with the credentials the test clients use.

For bodies and headers boto3 would not send (invalid JSON, huge numbers, NUL bytes):
signed with botocore's own signer, so they pass the server's signature check and reach
the code under test.
"""

from __future__ import annotations

import http.client
from dataclasses import dataclass
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

SIGNING_NAMES = {"pinpoint": "mobiletargeting", "lambda": "lambda"}


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


class Signer:
    def __init__(self, server) -> None:
        self.server = server
        self.signers = {}
        for service, name in SIGNING_NAMES.items():
            client = server.client(service)
            credentials = client._request_signer._credentials
            self.signers[service] = SigV4Auth(credentials, name, client.meta.region_name)

    def headers(
        self, service: str, method: str, path: str, body: bytes = b"", headers: dict | None = None
    ) -> dict[str, str]:
        """The request's headers with the signature added."""
        request = AWSRequest(method=method, url=self.server.url + path, data=body, headers=dict(headers or {}))
        self.signers[service].add_auth(request)
        return dict(request.headers.items())

    def send(
        self,
        service: str,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict | None = None,
        timeout: float = 60,
    ) -> Reply:
        signed = self.headers(service, method, path, body, headers)
        parts = urlsplit(self.server.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for key, value in signed.items():
                conn.putheader(key, value.encode("utf-8") if isinstance(value, str) else value)
            if body or method in ("POST", "PUT"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            response = conn.getresponse()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            conn.close()
