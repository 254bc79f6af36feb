"""A namespace's folders on disk: small files replaced atomically, folders taken away durably."""

from __future__ import annotations

import json
import os
import shutil

from ..errors import StorageError

# a dropped namespace's folders are renamed to this prefix before they are deleted; "~" is
# not allowed in namespace names, so what carries it is never mistaken for a namespace
TRASH_PREFIX = "~trash~"


def write_json_atomic(path: str, data: dict[str, object]) -> None:
    """Replace a small JSON file so that a crash leaves the old or the new one, never half."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o600)  # the file holds the namespace password
    os.replace(tmp, path)
    dirfd = os.open(os.path.dirname(path), os.O_RDONLY)
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)


def move_to_trash(folder: str) -> None:
    """Take a folder away at once (one rename, made durable), then delete it."""
    parent, name = os.path.split(folder)
    trash = os.path.join(parent, f"{TRASH_PREFIX}{name}~{os.urandom(4).hex()}")
    try:
        os.rename(folder, trash)
    except FileNotFoundError:
        return
    fsync_path(parent)
    shutil.rmtree(trash, ignore_errors=True)


def empty_trash(parent: str) -> None:
    """Delete what a crash left of dropped namespaces (on start)."""
    for entry in os.listdir(parent):
        if entry.startswith(TRASH_PREFIX):
            shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)


def fsync_path(path: str) -> None:
    """fsync a file or a folder by name (gone already: nothing to make durable)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        raise StorageError(f"cannot sync {path}: {exc.strerror}") from exc
    finally:
        os.close(fd)


__all__ = ["TRASH_PREFIX", "empty_trash", "fsync_path", "move_to_trash", "write_json_atomic"]
