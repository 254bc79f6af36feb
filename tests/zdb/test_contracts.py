"""Each contract of zero-db is written once: error lines, on-disk headers, the C module's stub."""

from __future__ import annotations

import ast
from pathlib import Path

import zeroos.zdb
from zeroos.zdb import errors

ZDB = Path(zeroos.zdb.__file__).parent


def _string_constants(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(node.value)
    return found


def test_error_lines_with_a_meaning_are_spelled_only_in_errors_py():
    lines = set(errors.REPLY_ERRORS) | set(errors.CLOSING_LINES) | {errors.INTERNAL_ERROR}
    spelled = {}
    for path in sorted(ZDB.rglob("*.py")):
        if path.name == "errors.py" and path.parent == ZDB:
            continue
        for text in _string_constants(path) & lines:
            spelled.setdefault(text, []).append(str(path.relative_to(ZDB)))
    assert spelled == {}


def test_the_client_maps_each_typed_line_and_only_those():
    for line, kind in errors.REPLY_ERRORS.items():
        exc = errors.error_from_reply(line)
        assert type(exc) is kind
        assert str(exc) == line
    assert type(errors.error_from_reply("Some other line")) is errors.ZdbResponseError
    assert errors.NS_GONE in errors.CLOSING_LINES
