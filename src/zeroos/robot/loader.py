"""Templates loaded from a repository's ``templates/<name>/<name>.py`` files.

Each file is imported as a module of its own; a file that fails (syntax error, failing import,
no class of the right name) gives one error line and the others still load.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from .errors import TemplateError
from .template import TemplateBase


@dataclass
class Loaded:
    """What loading one repository gave: templates by UID, and one line per failure."""

    templates: dict[str, type[TemplateBase]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def class_name(folder: str) -> str:
    """The class a template folder holds: the CamelCase of its name (``zero_db`` -> ZeroDb)."""
    return "".join(part[:1].upper() + part[1:] for part in folder.replace("-", "_").split("_"))


def load_template(path: Path, prefix: str) -> type[TemplateBase]:
    """The template class in ``path``, its UID ``prefix/name/version``; TemplateError if none."""
    folder = path.parent.name
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    module_name = f"zeroos_robot_templates.t{digest}.{folder}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise TemplateError(f"{path}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pydantic look their module up
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # a template may raise anything, SystemExit included
        sys.modules.pop(module_name, None)
        last = traceback.format_exception_only(exc)[-1].strip()
        raise TemplateError(f"{path}: cannot be loaded: {last}") from exc
    wanted = class_name(folder)
    cls = getattr(module, wanted, None)
    if not (isinstance(cls, type) and issubclass(cls, TemplateBase)):
        sys.modules.pop(module_name, None)
        raise TemplateError(f"{path}: no class {wanted} deriving from zeroos.robot.TemplateBase")
    name = cls.template_name or folder
    cls.template_name = name
    cls.uid = f"{prefix}/{name}/{cls.version}"
    return cls


def load_folder(root: Path, prefix: str) -> Loaded:
    """Every template under ``root/templates`` (or ``root`` itself when it has no such folder)."""
    base = root / "templates" if (root / "templates").is_dir() else root
    loaded = Loaded()
    if not base.is_dir():
        loaded.errors.append(f"{root}: no templates folder")
        return loaded
    for folder in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        path = folder / f"{folder.name}.py"
        if not path.is_file():
            continue
        try:
            cls = load_template(path, prefix)
        except TemplateError as exc:
            loaded.errors.append(str(exc))
            continue
        loaded.templates[cls.uid] = cls
    return loaded
