"""A small Kubernetes API client over the standard library, for the local control plane only.

The e2e reads and writes a handful of objects (the fake Node, StorageClass, PersistentVolumes,
what the operator generated); a client library or kubectl would be one more thing to install.
It talks to the API server on 127.0.0.1 with the admin client certificate of the run.
"""

from __future__ import annotations

import http.client
import json
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional


def timestamp(t: Optional[float] = None) -> str:
    """``t`` (default now) as the API server writes times in object status (RFC 3339, UTC, seconds)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class ApiError(RuntimeError):
    def __init__(self, status: int, method: str, path: str, body: str):
        super().__init__(f"{method} {path}: HTTP {status}: {body[:500]}")
        self.status = status


@dataclass(frozen=True)
class Kube:
    port: int
    ca_file: Path
    cert_file: Path
    key_file: Path
    host: str = "127.0.0.1"

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        context.load_cert_chain(str(self.cert_file), str(self.key_file))
        return context

    def request(self, method: str, path: str, body: Optional[dict] = None, timeout: float = 30, content_type: str = "application/json") -> Any:
        connection = http.client.HTTPSConnection(self.host, self.port, context=self._context(), timeout=timeout)
        try:
            payload = None if body is None else json.dumps(body).encode()
            headers = {"Accept": "application/json"}
            if payload is not None:
                headers["Content-Type"] = content_type
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            text = response.read().decode()
        finally:
            connection.close()
        if response.status >= 400:
            raise ApiError(response.status, method, path, text)
        return json.loads(text) if text else None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def exists(self, path: str) -> bool:
        try:
            self.get(path)
            return True
        except ApiError as err:
            if err.status == 404:
                return False
            raise

    def create(self, path: str, body: dict) -> Any:
        """POST, and treat an object that exists already as created (start is re-entrant)."""
        try:
            return self.request("POST", path, body)
        except ApiError as err:
            if err.status != 409:
                raise
            return None

    def items(self, path: str) -> list[dict]:
        return self.get(path).get("items", [])

    def healthy(self) -> bool:
        try:
            connection = http.client.HTTPSConnection(self.host, self.port, context=self._context(), timeout=2)
            connection.request("GET", "/readyz")
            ok = connection.getresponse().status == 200
            connection.close()
            return ok
        except OSError:
            return False


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    """Poll until condition() is truthy; fail with what was awaited after timeout seconds."""
    deadline = time.monotonic() + timeout
    last_error: Optional[BaseException] = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except (OSError, ApiError, ValueError) as err:
            last_error = err
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}" + (f" (last error: {last_error})" if last_error else ""))
