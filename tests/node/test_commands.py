"""The node's commands, driven through PyPI's 0-core-client as Zero-OS users drive 0-core."""

from __future__ import annotations

import io
import os
import stat
import time
import uuid
from pathlib import Path

import pytest
from zeroos.core0.client import Client, ResultError

from .conftest import Node

WAIT = 60  # seconds a client waits for a result (the machine is loaded)


def test_ping(client: Client) -> None:
    assert client.ping() == "PONG"


def test_system_output_exit_code_env_dir_stdin(client: Client, tmp_path: Path) -> None:
    result = client.system(
        "sh -c 'echo out:$FOO:$(pwd); cat; echo err >&2; exit 3'",
        dir=str(tmp_path),
        stdin="from stdin\n",
        env={"FOO": "bar"},
    ).get(WAIT)
    assert result.state == "ERROR"
    assert result.code == 3
    assert result.stdout == f"out:bar:{tmp_path}\nfrom stdin\n"
    assert result.stderr == "err\n"
    ok = client.system("true").get(WAIT)
    assert (ok.state, ok.code) == ("SUCCESS", 0)


def test_system_streams_output_while_running(client: Client) -> None:
    # the second line only comes once the first was read: it was streamed, not sent at the end
    gate = f"/tmp/node-stream-{uuid.uuid4().hex}"
    script = f"echo one; while [ ! -e {gate} ]; do sleep 0.05; done; echo two >&2; rm {gate}"
    job = client.system(f"sh -c '{script}'", stream=True)
    seen: list[tuple[int, str, int]] = []

    def callback(level: int, line: str, flags: int) -> None:
        seen.append((level, line, flags))
        if line == "one":
            Path(gate).touch()

    job.stream(callback)
    assert seen[:2] == [(1, "one", 0), (2, "two", 0)]
    assert seen[-1][2] & 0x2  # end of stream, success
    assert job.get(WAIT).state == "SUCCESS"


def test_system_of_a_missing_program_is_an_error(client: Client) -> None:
    result = client.system("/nonexistent/program").get(WAIT)
    assert result.state == "ERROR"
    assert "cannot run '/nonexistent/program'" in result.data


def test_info(client: Client) -> None:
    cpus = client.info.cpu()
    assert len(cpus) == os.cpu_count()
    mem = client.info.mem()
    assert 0 < mem["available"] <= mem["total"]
    assert any(d["mountpoint"] == "/" for d in client.info.disk())
    nics = {nic["name"]: nic for nic in client.info.nic()}
    assert {"addr": "127.0.0.1/8"} in nics["lo"]["addrs"]
    assert client.info.os()["hostname"] == os.uname().nodename
    assert client.info.version()["revision"]
    ports = client.info.port()
    assert any(p["port"] == client._redis.connection_pool.connection_kwargs["port"] for p in ports)
    capacity = client.json("capacity.total", {})
    assert capacity["cru"] == os.cpu_count()
    assert capacity["mru"] > 0
    assert capacity["hru"] + capacity["sru"] > 0


def test_core_state_and_process_list(client: Client) -> None:
    assert client.json("core.state", {})["rss"] > 0
    me = client.process.list(os.getpid())
    assert me[0]["pid"] == os.getpid()
    assert any(p["pid"] == 1 for p in client.process.list())


def test_filesystem_round_trips(client: Client, tmp_path: Path) -> None:
    fs = client.filesystem
    folder = tmp_path / "a" / "b"
    fs.mkdir(str(folder))
    assert fs.exists(str(folder))
    data = os.urandom(1536 * 1024 + 7)  # more than one block of the client's 512 KiB
    fs.upload(str(folder / "f"), io.BytesIO(data))
    assert (folder / "f").read_bytes() == data
    back = io.BytesIO()
    fs.download(str(folder / "f"), back)
    assert back.getvalue() == data
    local = tmp_path / "local"
    local.write_bytes(b"small")
    fs.upload_file(str(folder / "g"), str(local))
    fs.download_file(str(folder / "g"), str(tmp_path / "local2"))
    assert (tmp_path / "local2").read_bytes() == b"small"
    assert [e["name"] for e in fs.list(str(folder))] == ["f", "g"]
    fs.move(str(folder / "g"), str(folder / "h"))
    fs.chmod(str(folder / "h"), 0o600)
    assert stat.S_IMODE((folder / "h").stat().st_mode) == 0o600
    fd = fs.open(str(folder / "h"), "a")
    fs.write(fd, b"+more")
    fs.close(fd)
    assert (folder / "h").read_bytes() == b"small+more"
    fs.remove(str(tmp_path / "a"))
    assert not fs.exists(str(tmp_path / "a"))


def test_filesystem_errors_are_one_line(client: Client, tmp_path: Path) -> None:
    with pytest.raises(ResultError, match=r"No such file or directory"):
        client.filesystem.open(str(tmp_path / "absent"))
    with pytest.raises(ResultError, match=r"no open file 'nope'"):
        client.filesystem.read("nope")
    with pytest.raises(ResultError, match=r"mode 'q'"):
        client.filesystem.open(str(tmp_path / "x"), "q")


def test_job_list_and_kill(client: Client) -> None:
    job = client.system("sleep 120")
    listed = client.job.list(job.id)
    assert listed[0]["cmd"]["command"] == "core.system"
    assert job.id in [j["cmd"]["id"] for j in client.job.list()]
    assert job.running
    client.job.kill(job.id)
    result = job.get(WAIT)
    assert result.state == "KILLED"
    assert not job.running
    with pytest.raises(ResultError, match="no running job"):
        client.job.kill(job.id)


def test_max_time_ends_a_job(client: Client) -> None:
    started = time.monotonic()
    result = client.system("sleep 120", max_time=1).get(WAIT)
    assert result.state == "TIMEOUT"
    assert "max_time of 1 s" in result.data
    assert time.monotonic() - started < 30


def test_jobs_of_one_queue_run_one_after_the_other(client: Client, tmp_path: Path) -> None:
    log = tmp_path / "log"
    queue = uuid.uuid4().hex
    jobs = [
        client.system(
            f"sh -c 'echo start {n} >> {log}; sleep 0.2; echo end {n} >> {log}'", queue=queue
        )
        for n in range(4)
    ]
    for job in jobs:
        assert job.get(WAIT).state == "SUCCESS"
    expected = [f"{what} {n}" for n in range(4) for what in ("start", "end")]
    assert log.read_text().split("\n")[:-1] == expected


def test_result_stays_readable(client: Client) -> None:
    job = client.system("echo kept")
    assert job.get(WAIT).stdout == "kept\n"
    assert job.get(WAIT).stdout == "kept\n"  # get() leaves the result where it was
    assert 0 < client._redis.execute_command("LTTL", f"result:{job.id}:flag") <= 300
    assert client._redis.ttl(f"result:{job.id}") > 0


def test_tls_with_the_nodes_certificate(dev_node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    # 0-core-client's default is TLS, checked against the system's trust store: trust the
    # certificate the node made at its first start
    monkeypatch.setenv("SSL_CERT_FILE", str(dev_node.cert))
    client = dev_node.client(ssl=True)
    assert client.ping() == "PONG"
    assert client.system("echo tls").get(WAIT).stdout == "tls\n"


def test_tls_with_an_untrusted_certificate_fails(dev_node: Node) -> None:
    with pytest.raises(ConnectionError, match="Could not connect"):
        dev_node.client(ssl=True, testConnectionAttempts=1)


def test_the_output_of_a_job_that_timed_out_expires(client: Client) -> None:
    # nobody reads this stream: it must not stay forever once the job ended early
    job = client.system("sh -c 'echo line; sleep 120'", stream=True, max_time=1)
    assert job.get(WAIT).state == "TIMEOUT"
    assert client._redis.llen(f"stream:{job.id}") == 1
    assert 0 < client._redis.ttl(f"stream:{job.id}") <= 300
