"""The robot's store: one conformance suite over a folder's journal and a zero-db namespace's,
and what only files can suffer (a batch torn by a crash)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from zeroos.robot.journal import ServiceStore, service_line
from zeroos.robot.models import Service
from zeroos.robot.store import FileJournal, open_store
from zeroos.robot.zdbstore import ZdbJournal
from zeroos.testing import ZdbProcess
from zeroos.testing.robot_store import CHECKS, StoreMaker, check_empty, check_robot_store


def test_file_journal_conforms(tmp_path: Path) -> None:
    counter = itertools.count()

    def fresh() -> StoreMaker:
        folder = tmp_path / f"store{next(counter)}"
        return lambda: ServiceStore(FileJournal(folder))

    check_robot_store(fresh)


def test_zdb_journal_conforms(tmp_path: Path) -> None:
    server = ZdbProcess(tmp_path / "zdb").start()
    try:
        admin = server.client()
        counter = itertools.count()

        def fresh() -> StoreMaker:
            namespace = f"robot{next(counter)}"
            admin.execute_command("NSNEW", namespace)
            url = f"zdb://127.0.0.1:{server.port}/{namespace}"
            return lambda: open_store(url, tmp_path)

        check_robot_store(fresh)
        assert admin.execute_command("NSLIST")  # the namespaces were really used
    finally:
        server.stop()


@pytest.mark.parametrize(
    "check", [c for c in CHECKS if c is not check_empty], ids=lambda c: c.__name__
)
def test_each_check_can_fail(check: Callable[[StoreMaker], None], tmp_path: Path) -> None:
    """Every check fails against a store that forgets everything at close (a medium that
    drops what it is given): the suite cannot pass a store that keeps nothing."""

    class Forgetful(FileJournal):
        def append(self, generation: int, batch: bytes) -> None:
            return None

        def begin(self, generation: int, snapshot: bytes) -> None:
            return None

    with pytest.raises(AssertionError):
        check(lambda: ServiceStore(Forgetful(tmp_path / "forgetful")))


def test_a_torn_batch_is_cut_off_and_the_journal_goes_on(tmp_path: Path) -> None:
    folder = tmp_path / "journal"
    store = ServiceStore(FileJournal(folder))
    store.load()
    kept = Service(guid="g1", name="kept", template="h/a/r/t/1", created=1.0)
    store.write([service_line(kept, "")])
    store.close()
    with open(folder / "journal-0.jsonl", "ab") as journal:
        journal.write(b'{"s": {"guid": "g2", "na')  # a crash in the middle of a batch
    again = ServiceStore(FileJournal(folder))
    records, errors = again.load()
    assert (errors, [r.service.name for r in records]) == ([], ["kept"])
    later = Service(guid="g3", name="later", template="h/a/r/t/1", created=2.0)
    again.write([service_line(later, "")])
    again.close()
    third = ServiceStore(FileJournal(folder))
    records, errors = third.load()
    third.close()
    assert (errors, sorted(r.service.name for r in records)) == ([], ["kept", "later"])


def test_a_zdb_url_it_cannot_use_is_one_error(tmp_path: Path) -> None:
    from zeroos.robot import StoreError

    with pytest.raises(StoreError, match=r"--data zdb://:pw@127\.0\.0\.1:1: .*needs a namespace"):
        ZdbJournal.from_url("zdb://:pw@127.0.0.1:1")


def test_a_write_is_synced_before_it_is_acknowledged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kill -9 keeps the page cache: only this shows a journal written without its fsync."""
    import os

    synced: dict[int, int] = {}
    real = os.fdatasync

    def fdatasync(fd: int) -> None:
        real(fd)
        synced[fd] = os.fstat(fd).st_size

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    folder = tmp_path / "journal"
    store = ServiceStore(FileJournal(folder))
    store.load()
    try:
        for n in range(20):
            service = Service(guid=f"g{n}", name=f"s{n}", template="h/a/r/t/1", created=1.0)
            store.write([service_line(service, "")])
            size = (folder / "journal-0.jsonl").stat().st_size
            assert size in synced.values(), f"write {n} acknowledged before its fsync"
    finally:
        store.close()
