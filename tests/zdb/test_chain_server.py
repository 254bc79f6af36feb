"""The chain on real servers: proofs for every key, restart and kill -9, tampering, anchors."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys

import pytest
from crc32c import crc32c

from zeroos.zdb import (
    ChecksumError,
    Client,
    ProofMismatch,
    SignatureMismatch,
    ValueMismatch,
    VerificationError,
)
from zeroos.zdb.chain.anchor import anchor, read_anchors
from zeroos.zdb.chain.layout import CHAIN_FILES
from zeroos.zdb.chain.leaf import OP_DEL, OP_SET
from zeroos.zdb.chain.signing import KEY_FILE
from zeroos.zdb.chain.verify import server_public_key, verify_offline, verify_online

from .rawsock import RawConn

pytestmark = pytest.mark.both_engines


def _zos(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zeroos.cli.main", "zdb", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _workload(
    client: Client, rng: random.Random, ops: int = 400, model: dict[bytes, bytes] | None = None
) -> dict[bytes, bytes]:
    model = {} if model is None else model
    for _ in range(ops):
        key = b"key-%d" % rng.randrange(60)
        if model and rng.random() < 0.15 and key in model:
            client.delete(key)
            del model[key]
        else:
            value = rng.randbytes(rng.randrange(1, 300))
            client.set(key, value)
            model[key] = value
    return model


def _rewrite_value(datadir, key: bytes, new: bytes) -> None:
    """Replace a stored value (same length) and fix its CRC: a tamper the checksum can't see."""
    path = datadir / "default" / "zdb-data-00000"
    buf = bytearray(path.read_bytes())
    pos = buf.rfind(key)
    start = pos - 26
    vallen = int.from_bytes(buf[start + 6 : start + 10], "little")
    assert vallen == len(new)
    buf[pos + len(key) : pos + len(key) + vallen] = new
    buf[start : start + 4] = crc32c(bytes(buf[start + 4 : pos + len(key) + vallen])).to_bytes(
        4, "little"
    )
    path.write_bytes(bytes(buf))


def test_proofs_verify_for_every_key_after_random_workloads(zdb, tmp_path):
    rng = random.Random(3)
    with Client(port=zdb.port, chain_state=str(tmp_path / "state.json")) as client:
        model: dict[bytes, bytes] = {}
        for _round in range(3):
            _workload(client, rng, model=model)
            for i in range(60):
                key = b"key-%d" % i
                assert client.verified_get(key) == model.get(key)
        head = client.chain_head()
        assert head.size > 1000
    report = verify_online(Client(port=zdb.port))
    assert report.live_keys == len(model)


def _proof_leaves(port: int, keys: list[bytes]) -> dict[bytes, object]:
    """Each key's CHAIN PROOF leaf (index, op), or the error line."""
    out: dict[bytes, object] = {}
    with RawConn(port) as conn:
        assert conn.call("SELECT", "proofs", "secret") == b"OK"
        for key in keys:
            reply = conn.call("CHAIN", "PROOF", key)
            out[key] = (reply[0], reply[1][1]) if isinstance(reply, list) else str(reply)
    return out


@pytest.mark.embedded_only  # files on disk
def test_proofs_of_live_and_deleted_keys_survive_restart_and_flush(zdb_factory):
    server = zdb_factory()
    keys = [b"key-%d" % i for i in range(60)] + [b"never"]
    with Client(port=server.port) as client:
        client.nsnew("proofs")
        client.nsset("proofs", "password", "secret")
        client.nsset("proofs", "public", False)
        client.select("proofs", "secret")
        model = _workload(client, random.Random(8))
    before = _proof_leaves(server.port, keys)
    deleted = [k for k, v in before.items() if isinstance(v, tuple) and v[1] == OP_DEL]
    assert deleted
    assert all(before[k][1] == OP_SET for k in model)  # type: ignore[index]
    assert before[b"never"] == "Key not found"
    server.restart()
    assert _proof_leaves(server.port, keys) == before
    server.kill()
    server.start()
    assert _proof_leaves(server.port, keys) == before
    with Client(port=server.port) as client:
        client.select("proofs", "secret")
        client.flush()
    after = _proof_leaves(server.port, keys)
    assert set(after.values()) == {"Key not found"}
    server.restart()
    assert _proof_leaves(server.port, keys) == after


@pytest.mark.embedded_only  # files on disk
def test_heads_survive_restart_and_kill(zdb_factory, tmp_path):
    server = zdb_factory()
    state = str(tmp_path / "state.json")
    with Client(port=server.port, chain_state=state) as client:
        model = _workload(client, random.Random(5))
        before = client.chain_head()
    server.restart()
    with Client(port=server.port, chain_state=state) as client:
        assert client.chain_head() == before  # same size: the persisted head again
        client.set("after-restart", "x")
        model[b"after-restart"] = b"x"
    server.kill()
    server.start()
    with Client(port=server.port, chain_state=state) as client:
        # deleted keys too: their DEL leaf is found again after the restart
        for key in [*(b"key-%d" % i for i in range(60)), b"after-restart"]:
            assert client.verified_get(key) == model.get(key)
        assert client.chain_head().size == before.size + 1
    server.stop()
    assert verify_offline(str(server.datadir), str(server.indexdir), "default").heads >= 2


@pytest.mark.embedded_only  # files on disk
def test_torn_chain_tail_is_rebuilt_from_the_data(zdb_factory, tmp_path):
    server = zdb_factory()
    with Client(port=server.port) as client:
        model = _workload(client, random.Random(6))
        root = client.chain_head().root
    server.stop()
    folder = server.indexdir / "default"
    for name, cut in (("zdb-chain-leaves", 500), ("zdb-chain-hashes", 100)):
        with open(folder / name, "r+b") as fh:
            fh.truncate(os.path.getsize(folder / name) - cut)
    server.start()
    with Client(port=server.port) as client:
        assert client.chain_head().root == root
        for key, value in model.items():
            assert client.verified_get(key) == value


@pytest.mark.embedded_only  # files on disk
def test_flipped_byte_is_caught_by_verify_and_verified_get(zdb_factory):
    server = zdb_factory()
    with Client(port=server.port) as client:
        client.set("victim", b"A" * 64)
        client.set("other", b"B" * 64)
    server.stop()
    path = server.datadir / "default" / "zdb-data-00000"
    buf = bytearray(path.read_bytes())
    buf[buf.find(b"A" * 64) + 10] ^= 0x01
    path.write_bytes(bytes(buf))
    with pytest.raises(ValueMismatch, match="fails its checksum"):
        verify_offline(str(server.datadir), str(server.indexdir), "default")
    result = _zos("verify", "--data", str(server.datadir), "--index", str(server.indexdir))
    assert result.returncode == 1
    assert "victim" in result.stderr
    assert "checksum" in result.stderr
    server.start()
    with Client(port=server.port) as client, pytest.raises(ChecksumError):
        client.verified_get("victim")


@pytest.mark.embedded_only  # files on disk
def test_rewritten_value_with_a_good_checksum_is_caught(zdb_factory):
    server = zdb_factory()
    with Client(port=server.port) as client:
        client.set("victim", b"A" * 64)
        client.set("other", b"B" * 64)
    server.stop()
    _rewrite_value(server.datadir, b"victim", b"Z" * 64)
    with pytest.raises(ValueMismatch, match=r"SET b?'victim'.*differs from its hash"):
        verify_offline(str(server.datadir), str(server.indexdir), "default")
    server.start()
    with Client(port=server.port) as client:
        with pytest.raises(ValueMismatch, match="victim"):
            client.verified_get("victim")
        assert client.verified_get("other") == b"B" * 64
        with pytest.raises(ValueMismatch):
            verify_online(client)


@pytest.mark.embedded_only  # files on disk
def test_dropped_entry_is_caught(zdb_factory):
    server = zdb_factory()
    with Client(port=server.port) as client:
        for i in range(5):
            client.set(f"k{i}", f"value-{i}")
    server.stop()
    path = server.datadir / "default" / "zdb-data-00000"
    buf = path.read_bytes()
    start = buf.find(b"k2value-2") - 26
    path.write_bytes(buf[:start] + buf[start + 26 + 9 :])
    with pytest.raises(ValueMismatch, match="k2"):
        verify_offline(str(server.datadir), str(server.indexdir), "default")


@pytest.mark.embedded_only  # files on disk
def test_history_rewritten_and_resigned_with_another_key_is_caught(zdb_factory, tmp_path):
    server = zdb_factory()
    anchors = zdb_factory()
    state = str(tmp_path / "state.json")
    with Client(port=server.port, chain_state=state) as client:
        client.set("victim", b"A" * 32)
        client.set("other", b"B" * 32)
        assert client.verified_get("victim") == b"A" * 32
        with Client(port=anchors.port) as to:
            anchor(client, to)
    old_key = server_public_key(str(server.indexdir))
    anchor_spec = f"127.0.0.1:{anchors.port}/default"
    assert (
        _zos("verify", "--server", f"127.0.0.1:{server.port}", "--anchors", anchor_spec).returncode
        == 0
    )
    server.stop()
    # the attacker rewrites a value, throws the chain and the key away, and starts again
    _rewrite_value(server.datadir, b"victim", b"Z" * 32)
    for name in CHAIN_FILES:
        os.unlink(server.indexdir / "default" / name)
    os.unlink(server.indexdir / KEY_FILE)
    server.start()
    # the new chain is self-consistent...
    assert verify_offline(str(server.datadir), str(server.indexdir), "default").leaves > 0
    # ...but not with the pinned key, the client's state, nor the anchors
    with pytest.raises(SignatureMismatch):
        verify_offline(str(server.datadir), str(server.indexdir), "default", old_key)
    with Client(port=server.port, chain_state=state) as client, pytest.raises(SignatureMismatch):
        client.verified_get("victim")
    with Client(port=anchors.port) as to:
        heads = read_anchors(to, "default")
    assert len(heads) == 1
    with pytest.raises(SignatureMismatch):
        verify_offline(str(server.datadir), str(server.indexdir), "default", anchors=heads)
    result = _zos("verify", "--server", f"127.0.0.1:{server.port}", "--anchors", anchor_spec)
    assert result.returncode == 1
    assert "anchored head" in result.stderr


@pytest.mark.embedded_only  # files on disk
def test_anchors_catch_history_rewritten_with_the_same_key(zdb_factory):
    server = zdb_factory()
    anchors = zdb_factory()
    with Client(port=server.port) as client:
        client.set("victim", b"A" * 32)
        client.set("other", b"B" * 32)
    out = _zos(
        "anchor",
        "--server",
        f"127.0.0.1:{server.port}",
        "--to",
        f"127.0.0.1:{anchors.port}/default",
    )
    assert out.returncode == 0, out.stderr
    server.stop()
    _rewrite_value(server.datadir, b"victim", b"Z" * 32)
    for name in CHAIN_FILES:
        os.unlink(server.indexdir / "default" / name)
    server.start()  # same key: the chain is rebuilt from the rewritten data
    with Client(port=anchors.port) as to:
        heads = read_anchors(to, "default")
    with Client(port=server.port) as client, pytest.raises(ProofMismatch, match="rewritten"):
        verify_online(client, anchors=heads)


def test_key_command_prints_the_public_key(zdb):
    zdb.stop()
    out = _zos("key", "--index", str(zdb.indexdir))
    assert out.stdout.strip() == server_public_key(str(zdb.indexdir)).hex()
    assert os.stat(zdb.indexdir / KEY_FILE).st_mode & 0o777 == 0o600
    zdb.start()
    with Client(port=zdb.port) as client:
        assert client.info()["public_key"] == out.stdout.strip()


def test_no_chain_flag(zdb_factory):
    server = zdb_factory("--no-chain")
    with Client(port=server.port) as client:
        client.set("a", "b")
        assert client.info()["chain"] == "off"
        with pytest.raises(VerificationError.__mro__[1]):  # ZdbError
            client.verified_get("a")


@pytest.mark.embedded_only  # files on disk
def test_chain_survives_compaction(zdb_factory):
    server = zdb_factory()
    with Client(port=server.port) as client:
        model = _workload(client, random.Random(8))
    server.stop()
    assert (
        _zos("compact", "--data", str(server.datadir), "--index", str(server.indexdir)).returncode
        == 0
    )
    verify_offline(str(server.datadir), str(server.indexdir), "default")
    server.start()
    with Client(port=server.port) as client:
        client.set("after", "compaction")
        model[b"after"] = b"compaction"
        for key, value in model.items():
            assert client.verified_get(key) == value
    server.stop()
    verify_offline(str(server.datadir), str(server.indexdir), "default")
    shutil.rmtree(server.root / "unused", ignore_errors=True)


def test_async_client_verified_get(zdb, tmp_path):
    import asyncio

    from zeroos.zdb import AsyncClient

    async def run() -> None:
        async with AsyncClient(port=zdb.port, chain_state=str(tmp_path / "s.json")) as client:
            await client.set("a", "1")
            assert await client.verified_get("a") == b"1"
            await client.set("a", "2")
            assert await client.verified_get("a") == b"2"
            await client.delete("a")
            assert await client.verified_get("a") is None
            assert (await client.chain_head()).size == 4

    asyncio.run(run())
