"""Where long uploads stand, for the polling route and the upload page's bar."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from typing import Final, Literal

from .errors import BadRequest, NotFound
from .models import UploadProgress

KEEP: Final = 1000  # jobs remembered; the oldest are forgotten first
_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
State = Literal["receiving", "converting", "done", "failed"]


def check_id(job: str) -> str:
    if not _ID.match(job):
        raise BadRequest("a progress id is 8 to 64 letters, digits, '-' or '_'")
    return job


class Jobs:
    """Uploads by (repository, id the client chose); thread-safe."""

    def __init__(self) -> None:
        self._jobs: OrderedDict[tuple[str, str], UploadProgress] = OrderedDict()
        self._lock = threading.Lock()

    def start(self, repository: str, job: str, total: int) -> None:
        with self._lock:
            self._jobs[(repository, check_id(job))] = UploadProgress(total=total)
            while len(self._jobs) > KEEP:
                self._jobs.popitem(last=False)

    def received(self, repository: str, job: str, count: int) -> None:
        with self._lock:
            if (found := self._jobs.get((repository, job))) is not None:
                found.received += count

    def processed(self, repository: str, job: str, count: int) -> None:
        """Bytes of the archive's content turned into blocks (the converter's callback)."""
        with self._lock:
            if (found := self._jobs.get((repository, job))) is not None:
                found.state = "converting"
                found.processed += count

    def finish(self, repository: str, job: str, message: str | None = None) -> None:
        with self._lock:
            if (found := self._jobs.get((repository, job))) is not None:
                found.state = "failed" if message else "done"
                found.message = message

    def get(self, repository: str, job: str) -> UploadProgress:
        with self._lock:
            found = self._jobs.get((repository, check_id(job)))
            if found is None:
                raise NotFound(f"no upload {job!r} in {repository}")
            return found.model_copy()
