"""``/services``: list, create, get and delete services."""

from __future__ import annotations

from fastapi import APIRouter, Response

from ..deps import RobotDep
from ..models import Service, ServiceCreate

router = APIRouter(prefix="/services", tags=["services"])


@router.get("")
def list_services(
    robot: RobotDep,
    name: str | None = None,
    template_uid: str | None = None,
    template_name: str | None = None,
    template_version: str | None = None,
    parent: str | None = None,
) -> list[Service]:
    """The services matching every filter given."""
    return robot.services(
        name=name,
        template_uid=template_uid,
        template_name=template_name,
        template_version=template_version,
        parent=parent,
    )


@router.post("", status_code=201, responses={200: {"model": Service}})
def create_service(robot: RobotDep, ask: ServiceCreate, response: Response) -> Service:
    """Create a service (201), or find the same one asked for again (200)."""
    service, created = robot.create(ask)
    response.status_code = 201 if created else 200
    return service


@router.get("/{guid}")
def get_service(robot: RobotDep, guid: str) -> Service:
    """One service."""
    return robot.get(guid)


@router.delete("/{guid}", status_code=204)
def delete_service(robot: RobotDep, guid: str) -> Response:
    """Run the service's delete hook and forget it."""
    robot.delete(guid)
    return Response(status_code=204)
