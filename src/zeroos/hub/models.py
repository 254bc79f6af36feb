"""What zero-hub answers with: 0-hub's envelope and the records inside it."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


class Success(BaseModel, Generic[T]):
    """0-hub's answer to a request that worked."""

    status: Literal["success"] = "success"
    payload: T


class Failure(BaseModel):
    """0-hub's answer to a request that did not: one line saying why."""

    status: Literal["error"] = "error"
    message: str


class RepositoryInfo(BaseModel):
    name: str
    flists: int


class FlistEntry(BaseModel):
    """One flist of a repository as listings show it."""

    name: str
    size: int
    updated: int
    type: Literal["regular", "symlink", "taglink"]
    target: str | None = None


class FlistLight(BaseModel):
    """An flist's metadata without its contents."""

    name: str
    size: int
    updated: int
    md5: str
    blake2b: str


class ContentEntry(BaseModel):
    """One entry of an flist's tree."""

    path: str
    size: int
    type: Literal["regular", "directory", "symlink", "other"]
    target: str | None = None


class FlistContents(BaseModel):
    name: str
    entries: list[ContentEntry]
    tags: dict[str, str]


class Me(BaseModel):
    """Who the caller is and which repository it acts in."""

    username: str
    repository: str


class Uploaded(BaseModel):
    """An flist made (or accepted) by an upload."""

    flist: str
    name: str
    files: int = 0
    bytes: int = 0
    blocks_new: int = 0
    blocks_present: int = 0
    seconds: float = 0.0
    reused: bool = False  # the flist made before from the same archive (its blocks all there)


def success(payload: Any) -> dict[str, Any]:
    """The envelope around ``payload`` (for routes that build their answer by hand)."""
    return {"status": "success", "payload": payload}


class UploadProgress(BaseModel):
    """Where one upload stands: bytes received, content bytes converted, its state."""

    state: Literal["receiving", "converting", "done", "failed"] = "receiving"
    total: int = 0
    received: int = 0
    processed: int = 0
    message: str | None = None
