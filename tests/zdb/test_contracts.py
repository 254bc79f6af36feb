"""Each contract of zero-db is written once: error lines, on-disk headers, the C module's stub."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import zeroos.zdb
from zeroos.zdb import errors, protocol
from zeroos.zdb.chain import leaf
from zeroos.zdb.embedded import format as layout

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


def _stub_names() -> set[str]:
    tree = ast.parse((ZDB / "_native.pyi").read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_the_c_module_and_its_stub_name_the_same_exports():
    native = pytest.importorskip("zeroos.zdb._native")
    exported = {name for name in dir(native) if not name.startswith("_")}
    assert exported == _stub_names()
    for name in exported:
        if name.isupper():
            assert type(getattr(native, name)) is int, name
        else:
            assert callable(getattr(native, name)), name


def test_the_c_module_s_layouts_are_the_python_ones():
    native = pytest.importorskip("zeroos.zdb._native")
    assert native.DATA_HEADER_SIZE == layout.DATA_HEADER_SIZE == layout.DATA_HEADER.size
    assert native.INDEX_HEADER_SIZE == layout.INDEX_HEADER_SIZE == layout.INDEX_HEADER.size
    assert native.INDEX_OVERHEAD == layout.INDEX_OVERHEAD
    assert native.FLAG_DELETED == layout.FLAG_DELETED
    assert native.LEAF_VERSION == leaf.LEAF_VERSION
    assert (native.OP_SET, native.OP_DEL) == (leaf.OP_SET, leaf.OP_DEL)
    assert native.FRAME_LINE_MAX == protocol.FRAME_LINE_MAX
    codes = [name for name in dir(protocol) if name.startswith("FRAME_")]
    assert len(codes) > 8
    for name in codes:
        assert getattr(native, name) == getattr(protocol, name), name


def test_the_chain_imports_no_engine():
    code = (
        "import sys\n"
        "import zeroos.zdb.chain.anchor, zeroos.zdb.chain.log, zeroos.zdb.chain.verify\n"
        "print(sorted(m for m in sys.modules if m.startswith(('zeroos.zdb.embedded',"
        " 'zeroos.zdb.tarantool'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "[]"


def test_migrate_uses_only_the_engine_interface():
    tree = ast.parse((ZDB / "migrate.py").read_text())
    calls = [
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    ]
    assert "isinstance" not in calls
    private = [
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr.startswith("_")
    ]
    assert private == []


def test_only_the_clients_call_their_execute():
    callers = []
    for root in (ZDB.parent, Path(__file__).parents[1]):
        for path in sorted(root.rglob("*.py")):
            if path.parent == ZDB / "client":
                continue
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Attribute)
                    and node.attr == "_execute"
                    and not (isinstance(node.value, ast.Name) and node.value.id == "self")
                ):
                    callers.append(f"{path.name}:{node.lineno}")
    assert callers == []
