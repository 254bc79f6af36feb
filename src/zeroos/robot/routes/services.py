"""``/services``: list, create, get and delete services."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import TypeAdapter

from ..deps import AccessDep, RobotDep, service_for
from ..models import Service, ServiceCreate, ServiceCreated

router = APIRouter(prefix="/services", tags=["services"])
_LIST = TypeAdapter(list[Service])


@router.get("", response_model=list[Service])
def list_services(
    robot: RobotDep,
    caller: AccessDep,
    name: str | None = None,
    template_uid: str | None = None,
    template_name: str | None = None,
    template_version: str | None = None,
    parent: str | None = None,
) -> Response:
    """The services the caller may see matching every filter given."""
    found = robot.services(
        name=name,
        template_uid=template_uid,
        template_name=template_name,
        template_version=template_version,
        parent=parent,
    )
    # serialized once here: FastAPI would validate every service again on the way out
    mine = [s for s in found if caller.may(robot, s)]
    return Response(_LIST.dump_json(mine), media_type="application/json")


@router.post("", status_code=201, responses={200: {"model": ServiceCreated}})
def create_service(
    robot: RobotDep, caller: AccessDep, ask: ServiceCreate, response: Response
) -> ServiceCreated:
    """Create a service (201, with its secret), or find the same one asked for again (200)."""
    made = robot.create(ask, caller.owner())
    response.status_code = 201 if made.secret else 200
    return made


@router.get("/{guid}")
def get_service(robot: RobotDep, caller: AccessDep, guid: str) -> Service:
    """One service."""
    return service_for(robot, caller, guid)


@router.delete("/{guid}", status_code=204)
def delete_service(robot: RobotDep, caller: AccessDep, guid: str) -> Response:
    """Run the service's delete hook and forget it."""
    service_for(robot, caller, guid)
    robot.delete(guid)
    return Response(status_code=204)
