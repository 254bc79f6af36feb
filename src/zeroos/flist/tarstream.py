"""Reading a tar archive (plain or compressed) once from a stream that need not seek."""

from __future__ import annotations

import contextlib
import tarfile
import threading
import zlib
from collections.abc import Iterator
from typing import IO

from ..common.pipe import QueueReader
from .errors import FlistError

_TAR_BUFFER = 32 << 10  # bytes tarfile reads at a time from the (decompressed) stream
_INFLATE_INPUT = 256 << 10  # compressed bytes inflated at a time


@contextlib.contextmanager
def open_tar_stream(stream: IO[bytes], name: str = "the archive") -> Iterator[tarfile.TarFile]:
    """A tar archive (plain or compressed) read once from ``stream``, which need not seek.

    gzip (most archives) is undone by :class:`Gunzip` on a thread of its own, so that it
    overlaps the hashing of what it already gave; tarfile's own stream decompression works
    in 10 KiB pieces and copies its whole buffer at every 512-byte header.
    """
    magic = stream.read(2)
    gzipped = magic == b"\x1f\x8b"
    source = Gunzip(magic, stream, plain=not gzipped)
    try:
        try:
            mode = "r|" if gzipped else "r|*"
            # closed by the with below; Gunzip is a file object to tarfile (read() is enough)
            tar = tarfile.open(fileobj=source, mode=mode, bufsize=_TAR_BUFFER)  # type: ignore[call-overload]  # noqa: SIM115
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise FlistError(f"{name}: not a readable tar archive: {exc}") from exc
        with tar:
            yield tar
    finally:
        source.close()


class Gunzip(QueueReader):
    """The gunzipped bytes of ``head + stream``, inflated ahead by a thread (zlib releases
    the GIL); ``plain``: passed on as they are. Members of a multi-member gzip follow each
    other; zlib checks each member's CRC and length. :meth:`close` returns once the thread
    has stopped (at the latest when ``stream`` ends)."""

    def __init__(self, head: bytes, stream: IO[bytes], *, plain: bool = False) -> None:
        super().__init__(depth=16, read_all_chunk=_INFLATE_INPUT)
        self._head, self._stream, self._plain = head, stream, plain
        self._thread = threading.Thread(target=self._run, name="flist-gunzip", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            if self._plain:
                data = self._head
                while data and not self.stopped.is_set():
                    self.put(data)
                    data = self._stream.read(_INFLATE_INPUT)
            else:
                self._inflate()
            self.end()
        except BaseException as exc:  # handed to the reader, which raises it
            self.fail(exc)

    def _inflate(self) -> None:
        inflater, fresh = zlib.decompressobj(wbits=31), True
        data = self._head
        while not self.stopped.is_set():
            if not data:
                data = self._stream.read(_INFLATE_INPUT)
                if not data:
                    break
            out = inflater.decompress(data)
            fresh = False
            self.put(out)
            data = inflater.unused_data
            if inflater.eof:  # a member ended: another may follow
                inflater, fresh = zlib.decompressobj(wbits=31), True
        if not fresh and not inflater.eof:
            raise EOFError("the gzip stream ends before its end marker")

    def close(self) -> None:
        """Stop the thread (the reader is done, or gave up)."""
        super().close()
        self._thread.join()
