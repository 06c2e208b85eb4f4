"""Confluent Schema Registry REST routes (the Avro subset), mapped onto :class:`Registry`.

Query parameters clients send that make no difference here (``format``, ``normalize``,
``fetchMaxId``, ``reference_format``, ...) are accepted and ignored: stored schemas are already
normalised.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from services.registry import errors
from services.registry.service import Registry, avro_schema
from services.registry.state import SubjectVersion

router = APIRouter()


def _registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


async def json_body(request: Request) -> dict[str, Any]:
    """The request body as a JSON object (any content type). Raises MalformedRequest (400)."""
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise errors.MalformedRequest(f"Malformed JSON body: {exc}") from exc
    if not isinstance(body, dict):
        raise errors.MalformedRequest("The request body must be a JSON object")
    return body


def _canonical(body: dict[str, Any]) -> str:
    return avro_schema(body.get("schema"), body.get("schemaType"), body.get("references"))


def _full(version: SubjectVersion) -> dict[str, Any]:
    return {"subject": version.subject, "version": version.version, "id": version.schema_id,
            "schema": version.schema}


Reg = Depends(_registry)
Body = Depends(json_body)


@router.get("/")
def root() -> dict[str, Any]:
    return {}


@router.get("/schemas/types")
def schema_types() -> list[str]:
    return ["AVRO"]


@router.get("/schemas/ids/{schema_id}")
def schema_by_id(schema_id: int, reg: Registry = Reg) -> dict[str, Any]:
    return {"schema": reg.schema(schema_id)}


@router.get("/schemas/ids/{schema_id}/schema")
def raw_schema_by_id(schema_id: int, reg: Registry = Reg) -> Any:
    return _decoded(reg.schema(schema_id))


@router.get("/schemas/ids/{schema_id}/versions")
def versions_of_id(schema_id: int, deleted: bool = False, reg: Registry = Reg) -> list[dict[str, Any]]:
    return [{"subject": v.subject, "version": v.version} for v in reg.versions_of_id(schema_id, deleted)]


@router.get("/schemas/ids/{schema_id}/subjects")
def subjects_of_id(schema_id: int, deleted: bool = False, reg: Registry = Reg) -> list[str]:
    return sorted({v.subject for v in reg.versions_of_id(schema_id, deleted)})


@router.get("/subjects")
def subjects(deleted: bool = False, prefix: str = Query("", alias="subjectPrefix"),
             reg: Registry = Reg) -> list[str]:
    return [s for s in reg.state.subjects(deleted=deleted) if s.startswith(prefix)]


@router.get("/subjects/{subject}/versions")
def versions(subject: str, deleted: bool = False, reg: Registry = Reg) -> list[int]:
    return [v.version for v in reg.versions(subject, deleted=deleted)]


@router.post("/subjects/{subject}/versions")
def register(subject: str, body: dict[str, Any] = Body, reg: Registry = Reg) -> dict[str, Any]:
    return {"id": reg.register(subject, _canonical(body)).schema_id}


@router.get("/subjects/{subject}/versions/{version}")
def version(subject: str, version: str, deleted: bool = False, reg: Registry = Reg) -> dict[str, Any]:
    return _full(reg.version(subject, version, deleted=deleted))


@router.get("/subjects/{subject}/versions/{version}/schema")
def version_schema(subject: str, version: str, deleted: bool = False, reg: Registry = Reg) -> Any:
    return _decoded(reg.version(subject, version, deleted=deleted).schema)


@router.get("/subjects/{subject}/versions/{version}/referencedby")
def referenced_by(subject: str, version: str, reg: Registry = Reg) -> list[int]:
    reg.version(subject, version)
    return []  # references are not supported, so nothing refers to anything


@router.post("/subjects/{subject}")
def lookup(subject: str, deleted: bool = False, body: dict[str, Any] = Body, reg: Registry = Reg) -> Any:
    return _full(reg.lookup(subject, _canonical(body), deleted=deleted))


@router.delete("/subjects/{subject}")
def delete_subject(subject: str, permanent: bool = False, reg: Registry = Reg) -> list[int]:
    return reg.delete_subject(subject, permanent=permanent)


@router.delete("/subjects/{subject}/versions/{version}")
def delete_version(subject: str, version: str, permanent: bool = False, reg: Registry = Reg) -> int:
    return reg.delete_version(subject, version, permanent=permanent)


def _compatibility(problems: list[str], verbose: bool) -> dict[str, Any]:
    answer: dict[str, Any] = {"is_compatible": not problems}
    if verbose:
        answer["messages"] = problems
    return answer


@router.post("/compatibility/subjects/{subject}/versions/{version}")
def check_version(subject: str, version: str, verbose: bool = False, body: dict[str, Any] = Body,
                  reg: Registry = Reg) -> dict[str, Any]:
    return _compatibility(reg.problems(subject, _canonical(body), version), verbose)


@router.post("/compatibility/subjects/{subject}/versions")
def check_all(subject: str, verbose: bool = False, body: dict[str, Any] = Body,
              reg: Registry = Reg) -> dict[str, Any]:
    return _compatibility(reg.problems(subject, _canonical(body)), verbose)


def _level(body: dict[str, Any]) -> Any:
    return body.get("compatibility", body.get("compatibilityLevel"))


@router.get("/config")
def global_config(reg: Registry = Reg) -> dict[str, str]:
    return {"compatibilityLevel": reg.level(None)}


@router.put("/config")
def set_global_config(body: dict[str, Any] = Body, reg: Registry = Reg) -> dict[str, str]:
    return {"compatibility": reg.set_level(None, _level(body))}


@router.delete("/config")
def delete_global_config(reg: Registry = Reg) -> dict[str, str]:
    return {"compatibilityLevel": reg.delete_global_level()}


@router.get("/config/{subject}")
def subject_config(subject: str, default_to_global: bool = Query(False, alias="defaultToGlobal"),
                   reg: Registry = Reg) -> dict[str, str]:
    return {"compatibilityLevel": reg.subject_level(subject, default_to_global=default_to_global)}


@router.put("/config/{subject}")
def set_subject_config(subject: str, body: dict[str, Any] = Body, reg: Registry = Reg) -> dict[str, str]:
    return {"compatibility": reg.set_level(subject, _level(body))}


@router.delete("/config/{subject}")
def delete_subject_config(subject: str, reg: Registry = Reg) -> dict[str, str]:
    return {"compatibilityLevel": reg.delete_level(subject)}


@router.get("/mode")
def mode() -> dict[str, str]:
    return {"mode": "READWRITE"}


@router.get("/mode/{subject}")
def subject_mode(subject: str) -> dict[str, str]:
    return {"mode": "READWRITE"}


@router.get("/contexts")
def contexts() -> list[str]:
    return ["."]


@router.api_route("/associations", methods=["GET", "POST", "PUT", "DELETE"])
@router.api_route("/associations/{rest:path}", methods=["GET", "POST", "PUT", "DELETE"])
def associations(rest: str = "") -> None:
    raise errors.SubjectNotFound(
        "No associations: this registry does not support resource associations; "
        "clients fall back to the topic name strategy")


def _decoded(text: str) -> Any:
    return json.loads(text)
