"""QueueReader: chunks put by one thread, read as a file by another."""

from __future__ import annotations

import threading

import pytest

from zeroos.common.pipe import QueueReader


def test_partial_reads_split_and_join_chunks_then_eof() -> None:
    reader = QueueReader(depth=8)
    for chunk in (b"abcde", b"", b"fg", b"h"):
        reader.put(chunk)
    reader.end()
    assert reader.read(3) == b"abc"
    assert reader.read(3) == b"de"  # never more than one chunk's rest at a time
    assert reader.read(0) == b""
    assert reader.read(10) == b"fg"
    assert reader.read(1) == b"h"
    assert reader.read(1) == b""
    assert reader.read() == b""  # the end stays the end


def test_read_all_gathers_everything_left() -> None:
    reader = QueueReader(depth=8, read_all_chunk=2)
    reader.put(b"hello ")
    reader.put(b"world")
    reader.end()
    assert reader.read(1) == b"h"
    assert reader.read() == b"ello world"
    assert reader.read() == b""


def test_a_failure_reaches_the_reader_as_it_was_given_after_the_data() -> None:
    reader = QueueReader(depth=8)
    reader.put(b"data")
    error = ValueError("the source broke")
    reader.fail(error)
    assert reader.read(100) == b"data"
    with pytest.raises(ValueError, match="the source broke") as caught:
        reader.read(1)
    assert caught.value is error
    assert reader.read(1) == b""  # raised once, then the stream is over


def test_reads_wait_for_a_writer_in_another_thread() -> None:
    reader = QueueReader(depth=2)
    chunks = [bytes([n]) * 1000 for n in range(50)]

    def write() -> None:
        for chunk in chunks:
            reader.put(chunk)
        reader.end()

    writer = threading.Thread(target=write)
    writer.start()
    assert reader.read() == b"".join(chunks)  # the queue holds 2: the writer waited on us
    writer.join(timeout=10)
    assert not writer.is_alive()


def test_closing_the_reader_frees_a_waiting_writer_and_drops_what_follows() -> None:
    reader = QueueReader(depth=1)
    reader.put(b"a")
    assert not reader.put_nowait(b"b")  # full
    done = threading.Event()

    def write() -> None:
        reader.put(b"c")  # waits: the queue is full
        reader.end()
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    assert not done.wait(0.2)  # still waiting on the full queue
    reader.close()
    assert done.wait(10), "the writer still waits after the reader closed"
    writer.join(timeout=10)
    assert reader.closed
    assert reader.put_nowait(b"d")  # accepted and dropped: the writer never waits
