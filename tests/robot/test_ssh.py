"""Templates cloned over ssh:// with the host's ssh-agent: a real sshd on a free port, a key
that only a real ssh-agent holds (its file deleted once added), and no private key written
anywhere under the robot's data folder."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from zeroos.common.harness import Child, zos_serve
from zeroos.robot import RepositoryError
from zeroos.robot.engine import Robot
from zeroos.testing import free_port

from .templates import git_repository

SSHD = Path("/usr/sbin/sshd")


@dataclass
class SshWorld:
    root: Path
    port: int
    env: dict[str, str]  # SSH_AUTH_SOCK and GIT_SSH_COMMAND (our known_hosts)
    repo_url: str


def _wait_for(check: object, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} did not come up in {seconds:g} s"
        time.sleep(0.05)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "robot-test", "-f", str(path)],
        check=True,
        timeout=60,
    )


@pytest.fixture
def ssh_world(tmp_path: Path) -> Iterator[SshWorld]:
    if not SSHD.exists():
        raise RuntimeError("sshd is missing: scripts/test.sh installs openssh-server")
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    _keygen(keys / "host")
    _keygen(keys / "user")
    (keys / "authorized_keys").write_text((keys / "user.pub").read_text())
    port = free_port()
    config = tmp_path / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {keys / 'host'}\n"
        f"AuthorizedKeysFile {keys / 'authorized_keys'}\nPidFile {tmp_path / 'sshd.pid'}\n"
        "StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nLogLevel ERROR\n"
    )
    made_run_dir = not Path("/run/sshd").exists()
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation folder
    log = open(tmp_path / "sshd.log", "wb")  # noqa: SIM115 - closed below
    sshd = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
    agent_sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(
        ["ssh-agent", "-D", "-a", str(agent_sock)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(lambda: _listening(port), "sshd")
        _wait_for(agent_sock.exists, "ssh-agent")
        env = {"SSH_AUTH_SOCK": str(agent_sock)}
        subprocess.run(
            ["ssh-add", "-q", str(keys / "user")],
            env={**os.environ, **env},
            check=True,
            timeout=60,
            capture_output=True,
        )
        (keys / "user").unlink()  # from now on only the agent has the key
        host_key = (keys / "host.pub").read_text().split()
        known = tmp_path / "known_hosts"
        known.write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
        env["GIT_SSH_COMMAND"] = (
            f"ssh -o UserKnownHostsFile={known} -o StrictHostKeyChecking=yes -o BatchMode=yes"
        )
        repo = git_repository(tmp_path / "repos" / "team" / "templates")
        yield SshWorld(tmp_path, port, env, f"ssh://root@127.0.0.1:{port}{repo}")
    finally:
        for proc in (agent, sshd):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        log.close()
        if made_run_dir:
            Path("/run/sshd").rmdir()


def test_templates_clone_over_ssh_with_the_agent(ssh_world: SshWorld) -> None:
    data = ssh_world.root / "robot-data"
    child = Child(
        zos_serve(
            "robot", "--port", "0", "--dev", "--data", str(data),
            "--template-repo", ssh_world.repo_url,
        ),
        ssh_world.root / "robot.ready",
        env={**os.environ, **ssh_world.env},
        log=ssh_world.root / "robot.log",
        name="robot",
    ).start(120)  # fmt: skip
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{child.port}", timeout=30) as http:
            info = http.get("/robot").json()
            assert info["repositories"] == [ssh_world.repo_url]
            uids = [t["uid"] for t in http.get("/templates").json()]
            assert "127.0.0.1/team/templates/counter/0.0.1" in uids, info
            made = http.post("/services", json={"template": "counter", "name": "over-ssh"})
            assert made.status_code == 201, made.text
    finally:
        child.stop()
    written = [p for p in data.rglob("*") if p.is_file()]
    assert any(p.name == "counter.py" for p in written)  # the clone is there...
    leaked = [p for p in written if b"PRIVATE KEY" in p.read_bytes()]
    assert leaked == []  # ...and no private key


def test_without_the_agent_the_clone_is_refused(
    ssh_world: SshWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_SSH_COMMAND", ssh_world.env["GIT_SSH_COMMAND"])
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    robot = Robot(ssh_world.root / "alone")
    try:
        with pytest.raises(
            RepositoryError, match=r"git clone failed: .*Permission denied \(publickey\)"
        ):
            robot.catalog.add_repository(ssh_world.repo_url)
    finally:
        robot.close()
