"""zero-robot: templates from git, services with task lists, blueprints (0-robot's REST API).

    from pydantic import BaseModel
    from zeroos.robot import TemplateBase

    class Greeter(TemplateBase):          # templates/greeter/greeter.py of a repository
        template_name = "greeter"
        version = "0.0.1"

        class Data(BaseModel):
            who: str

        def install(self) -> str:
            return f"hello {self.data.who}"

``zos robot serve --template-repo URL --dev`` runs the server (:func:`zeroos.robot.main.run`).
"""

from .errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    RepositoryError,
    RobotError,
    StoreError,
    TemplateError,
    Unauthorized,
)
from .template import ServiceState, TemplateBase

__all__ = [
    "BadRequest",
    "Conflict",
    "Forbidden",
    "NotFound",
    "RepositoryError",
    "RobotError",
    "ServiceState",
    "StoreError",
    "TemplateBase",
    "TemplateError",
    "Unauthorized",
]
