"""Merging flists as layers: later layers win, OCI whiteouts of later layers hide entries.

No content moves: the merged flist references the layers' blocks, and its routes are the
union of theirs. A ``.wh.NAME`` entry removes NAME of earlier layers; ``.wh..wh..opq`` empties
its directory of what earlier layers put there. Tags: later layers' values win.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import FlistError
from .format import Flist
from .models import Route
from .tree import Entry, TreeBuilder


def _layer_entries(layer: Flist) -> tuple[list[Entry], list[Entry]]:
    """A layer's entries (parents before children) and its hard links (added last)."""
    entries: list[Entry] = []
    links: list[Entry] = []
    paths: dict[int, str] = {}
    for path, node in layer.walk():
        rel = path.lstrip("/")
        paths[node.ino] = rel
        entry = Entry.of(rel, node)
        if node.is_link:
            entry.target = layer.link_target(node.ino)
        first = layer.hardlink_of(node.ino) if node.is_file else None
        if first is not None and first != node.ino:
            entry.link = str(first)  # resolved to a path once the layer is walked
            links.append(entry)
            continue
        if node.is_file:
            entry.blocks = layer.blocks(node.ino)
        entries.append(entry)
    for entry in links:
        target = paths.get(int(entry.link or 0))
        if target is None:
            raise FlistError(f"{layer.path}: {entry.path!r} is a hard link to a missing inode")
        entry.link = target
    return entries, links


def merge(layers: list[str | Path], out: str | Path) -> int:
    """Write the merge of ``layers`` (lowest first) to ``out``; how many entries it holds."""
    if not layers:
        raise FlistError("merge needs at least one flist")
    out = Path(out)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    block_size = None
    try:
        with Flist.create(tmp) as merged:
            builder = TreeBuilder(merged, complete=True)
            routes: dict[tuple[int, int, str], None] = {}
            for path in layers:
                with Flist.open(path) as layer:
                    if block_size is None:
                        block_size = layer.block_size
                    elif layer.block_size != block_size:
                        # file sizes and block offsets would no longer agree
                        raise FlistError(
                            f"{path}: block size {layer.block_size} differs from the first "
                            f"layer's {block_size}; merge flists made with one block size"
                        )
                    for route in layer.routes():
                        routes[(route.start, route.end, route.url)] = None
                    for key, value in layer.tags().items():
                        merged.set_tag(key, value)
                    entries, links = _layer_entries(layer)
                builder.start_layer()
                for entry in entries:
                    if not builder.whiteout(entry.path):
                        builder.add(entry)
                for entry in links:
                    builder.add_hardlink(entry)
            builder.finish()
            merged.set_routes(Route(s, e, u) for s, e, u in routes)
            count = merged.count()
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return count
