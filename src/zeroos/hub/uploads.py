"""Upload bodies (multipart forms with one ``file`` field): spooled to disk, or streamed.

An .fl or an image archive is read at random places, so it is spooled to the hub's scratch
folder first (:func:`receive`). A .tar.gz is read once from start to end, so its bytes go
from the socket through a :class:`BodyPipe` straight to the converter thread as they arrive
(:func:`stream_archive`): nothing of it is written to disk, and receiving overlaps converting.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, cast

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message

from ..common.pipe import QueueReader
from .errors import BadRequest, HubError, TooLarge
from .models import Uploaded
from .names import flist_name_for
from .service import Hub, Progress

_CHUNK = 1 << 20
_PIPE_DEPTH = 64  # chunks of the body (~64 KiB each) queued for the converter at most
NO_FILE = "the upload needs a file in the form field 'file'"


def _too_large(limit: int) -> TooLarge:
    return TooLarge(f"the upload is larger than {limit} bytes")


async def receive(
    request: Request, hub: Hub, suffix: str, count: Callable[[int], None]
) -> tuple[str, Path]:
    """The ``file`` field of a multipart upload, copied to the hub's scratch folder on disk.

    Returns its file name and where it is; the caller removes the file. ``count`` is told
    how many bytes of the body arrive, as they arrive.
    """

    async def counted() -> Message:
        message = await request.receive()
        count(len(message.get("body", b"")))
        return message

    try:
        form = await Request(request.scope, counted).form(max_files=1, max_fields=4)
    except Exception as exc:  # starlette raises several kinds for a bad multipart body
        raise BadRequest(f"the upload is not a multipart form: {exc}") from exc
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise BadRequest(NO_FILE)
        dest = hub.repos.scratch(suffix)
        try:
            with dest.open("wb") as out:
                while chunk := await upload.read(_CHUNK):
                    if out.tell() + len(chunk) > hub.limits.upload:
                        raise _too_large(hub.limits.upload)
                    out.write(chunk)
        except BaseException:
            dest.unlink(missing_ok=True)  # nothing of a refused upload stays behind
            raise
        return upload.filename, dest
    finally:
        await form.close()


class BodyPipe:
    """An upload's body handed from the event loop to the converter thread, a bounded few
    chunks at a time, through a :class:`QueueReader` (:attr:`reader`, which the converter
    reads like a file that cannot seek and closes when it stops reading, so that :meth:`put`
    never waits on it).

    The loop side :meth:`put`\\ s chunks, then :meth:`close`\\ s (end of data) or
    :meth:`fail`\\ s: the converter's next read raises an OSError saying the upload stopped.
    """

    def __init__(self, depth: int = _PIPE_DEPTH) -> None:
        self.reader = QueueReader(depth, read_all_chunk=_CHUNK)

    async def put(self, chunk: bytes) -> None:
        """Queue ``chunk`` for the reader (dropped once it has stopped reading)."""
        if not self.reader.put_nowait(chunk):  # the converter is behind: wait off the loop
            await run_in_threadpool(self.reader.put, chunk)

    async def close(self) -> None:
        """The data is complete: the reader sees the end of the stream."""
        await run_in_threadpool(self.reader.end)

    async def fail(self, exc: BaseException) -> None:
        """The data will not be complete: the reader's next read raises an OSError."""
        error = OSError(f"the upload stopped: {exc}")
        error.__cause__ = exc  # the converter's error says why, as ``raise ... from exc`` would
        await run_in_threadpool(self.reader.fail, error)


class _FilePart:
    """python-multipart's callbacks: which part is the ``file`` field, and its data."""

    def __init__(self) -> None:
        self.filename: str | None = None  # of the file field, once its headers are read
        self.parts = 0
        self.data: list[bytes] = []  # of the file field, since the caller last took it
        self._in_file = False
        self._field = b""
        self._value = b""
        self._headers: dict[bytes, bytes] = {}

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._begin,
            "on_part_data": self._data,
            "on_part_end": self._end,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_done,
        }

    def _begin(self) -> None:
        self.parts += 1
        if self.parts > 4:
            raise BadRequest("the upload form has more than 4 fields")
        self._headers = {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field = self._value = b""

    def _headers_done(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if options.get(b"name") != b"file":
            return
        if self.filename is not None:
            raise BadRequest("the upload form holds more than one 'file'")
        filename = options.get(b"filename", b"").decode("utf-8", "replace")
        if not filename:
            raise BadRequest(NO_FILE)
        self.filename = filename
        self._in_file = True

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self.data.append(data[start:end])

    def _end(self) -> None:
        self._in_file = False

    def take(self) -> list[bytes]:
        data, self.data = self.data, []
        return data


def _parser(request: Request, part: _FilePart) -> MultipartParser:
    kind, options = parse_options_header(request.headers.get("content-type"))
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise BadRequest("the upload is not a multipart form: send the file as field 'file'")
    return MultipartParser(boundary, part.callbacks())  # type: ignore[arg-type]


async def stream_archive(
    request: Request,
    hub: Hub,
    repository: str,
    count: Callable[[int], None],
    progress: Progress | None,
) -> Uploaded:
    """Make an flist of ``repository`` from the .tar(.gz) in the body's ``file`` field, its
    members converted as they arrive (``count``: body bytes received; ``progress``: content
    bytes converted)."""
    part = _FilePart()
    parser = _parser(request, part)
    pipe = BodyPipe()
    converting: asyncio.Future[Uploaded] | None = None
    received = 0

    def convert(name: str) -> Uploaded:
        try:
            return hub.upload_stream(repository, name, cast("IO[bytes]", pipe.reader), progress)
        finally:
            pipe.reader.close()

    try:
        try:
            async for chunk in request.stream():
                count(len(chunk))
                try:
                    parser.write(chunk)
                except HubError:
                    raise
                except Exception as exc:  # python-multipart's several parse errors
                    raise BadRequest(f"the upload is not a multipart form: {exc}") from exc
                if converting is None and part.filename is not None:
                    name = flist_name_for(part.filename)
                    converting = asyncio.ensure_future(run_in_threadpool(convert, name))
                for data in part.take():
                    received += len(data)
                    if received > hub.limits.upload:
                        raise _too_large(hub.limits.upload)
                    await pipe.put(data)
            parser.finalize()
        except ClientDisconnect as exc:
            raise BadRequest("the upload ended before its end (the client went away)") from exc
        if converting is None:
            raise BadRequest(NO_FILE)
        await pipe.close()
        return await converting
    except BaseException as exc:
        if converting is not None:  # stop the converter and wait for it: it holds files
            await pipe.fail(exc)
            with contextlib.suppress(BaseException):
                await converting
        raise
