"""``zos robot template new NAME``: the files of a new template, ready to fill in."""

from __future__ import annotations

import re
from pathlib import Path

from .errors import BadRequest
from .loader import class_name

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_TEMPLATE = '''"""{title}: a zero-robot template (its services' data, then their actions)."""

from __future__ import annotations

from pydantic import BaseModel

from zeroos.robot import TemplateBase


class {cls}(TemplateBase):
    """What a {name} service is for."""

    template_name = "{name}"
    version = "0.0.1"
    recurring: dict[str, float] = {{}}  # e.g. {{"monitor": 30.0}}: action -> period in seconds

    class Data(BaseModel):
        """The data of a {name} service, checked when it is created or updated."""

    def install(self) -> None:
        """Make the service exist."""
        self.state.set("actions", "install", "ok")

    def uninstall(self) -> None:
        """Undo install."""
        self.state.delete("actions", "install")
'''


def new_template(root: Path, name: str) -> Path:
    """Write ``root/templates/NAME/NAME.py``; BadRequest for a bad or taken name."""
    if not _NAME.match(name):
        raise BadRequest(f"{name!r} is not a template name (lowercase letters, digits, _)")
    path = root / "templates" / name / f"{name}.py"
    if path.exists():
        raise BadRequest(f"{path} exists already")
    path.parent.mkdir(parents=True, exist_ok=True)
    title = name.replace("_", " ")
    path.write_text(_TEMPLATE.format(title=title, cls=class_name(name), name=name))
    return path
