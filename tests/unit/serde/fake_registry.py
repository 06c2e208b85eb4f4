"""An in-memory Confluent-style registry behind ``httpx.MockTransport``, for unit tests."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

import httpx

from bus.serde import RegistryClient


class FakeRegistry:
    """Just enough of the registry API for the client and the serde; records every request."""

    def __init__(self) -> None:
        self.schemas: list[str] = []                      # id - 1 → schema text
        self.subjects: dict[str, list[int]] = {}          # subject → ids, oldest first
        self.config: dict[str, str] = {}
        self.requests: list[httpx.Request] = []
        self.fail_with: int | None = None                 # answer every request with this status

    def client(self) -> RegistryClient:
        return RegistryClient("http://registry.test", transport=httpx.MockTransport(self.handle))

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail_with:
            return _error(self.fail_with, self.fail_with * 100 + 1, "induced failure")
        parts = [unquote(p) for p in request.url.raw_path.decode().split("?")[0].strip("/").split("/")]
        body: Any = json.loads(request.content) if request.content else None
        match request.method, parts:
            case "POST", ["subjects", subject, "versions"]:
                return _ok({"id": self.register(subject, body["schema"])})
            case "POST", ["subjects", subject]:
                ids = self.subjects.get(subject, [])
                if body["schema"] not in [self.schemas[i - 1] for i in ids]:
                    return _error(404, 40403, "Schema not found")
                schema_id = self.schemas.index(body["schema"]) + 1
                return _ok({"subject": subject, "version": ids.index(schema_id) + 1, "id": schema_id,
                            "schema": body["schema"]})
            case "GET", ["schemas", "ids", schema_id]:
                if not 0 < int(schema_id) <= len(self.schemas):
                    return _error(404, 40403, "Schema not found")
                return _ok({"schema": self.schemas[int(schema_id) - 1]})
            case "GET", ["subjects", subject, "versions", "latest"]:
                if subject not in self.subjects:
                    return _error(404, 40401, f"Subject '{subject}' not found.")
                ids = self.subjects[subject]
                return _ok({"subject": subject, "version": len(ids), "id": ids[-1],
                            "schema": self.schemas[ids[-1] - 1]})
            case "GET", ["subjects"]:
                return _ok(sorted(self.subjects))
            case "PUT", ["config", subject]:
                self.config[subject] = body["compatibility"]
                return _ok({"compatibility": body["compatibility"]})
            case "GET", ["config", subject]:
                if subject not in self.config:
                    return _error(404, 40408, "Subject does not have subject-level compatibility")
                return _ok({"compatibilityLevel": self.config[subject]})
            case "POST", ["compatibility", "subjects", subject, "versions", _version]:
                if subject not in self.subjects:
                    return _error(404, 40401, f"Subject '{subject}' not found.")
                fine = "BREAK" not in body["schema"]
                return _ok({"is_compatible": fine, "messages": [] if fine else ["field 'x' was removed"]})
        return _error(404, 404, f"no route {request.method} {request.url.path}")

    def register(self, subject: str, schema: str) -> int:
        if schema not in self.schemas:
            self.schemas.append(schema)
        schema_id = self.schemas.index(schema) + 1
        ids = self.subjects.setdefault(subject, [])
        if schema_id not in ids:
            ids.append(schema_id)
        return schema_id


def _ok(body: Any) -> httpx.Response:
    return httpx.Response(200, json=body, headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})


def _error(status: int, code: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error_code": code, "message": message})
