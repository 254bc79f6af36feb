"""`zos stor` through a real subprocess: commands, output, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml

from .conftest import config_dict


def _zos(*args: str, cwd=None, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "zeroos.cli", "stor", *args],
        capture_output=True,
        input=input,
        timeout=60,
        cwd=cwd,
        env=env,
    )


def test_cli_commands(cluster, tmp_path):
    conf = tmp_path / "zstor.yaml"
    cfg = config_dict(cluster)
    conf.write_text(yaml.safe_dump(cfg))
    src = tmp_path / "file.bin"
    data = os.urandom(300_000)
    src.write_bytes(data)
    c = str(conf)

    out = _zos("-c", c, "upload", str(src), "--key", "docs/file.bin", "-m", "owner=me")
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode().startswith("docs/file.bin\t300000\t")
    assert _zos("-c", c, "upload", "-", "--key", "piped", input=b"from stdin").returncode == 0

    out = _zos("-c", c, "download", "docs/file.bin", "-o", str(tmp_path / "back.bin"))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "back.bin").read_bytes() == data
    out = _zos("-c", c, "download", "piped", "-o", "-")
    assert out.stdout == b"from stdin"

    meta = json.loads(_zos("-c", c, "metadata", "docs/file.bin", "--json").stdout)
    assert (meta["size"], meta["user"]) == (300000, {"owner": "me"})
    listing = _zos("-c", c, "list").stdout.decode()
    assert "docs/file.bin" in listing
    assert "piped" in listing

    out = _zos("-c", c, "check", "--all")
    assert out.returncode == 0
    assert "docs/file.bin\toptimal" in out.stdout.decode()
    out = _zos("-c", c, "repair", "piped")
    assert out.returncode == 0
    assert "optimal -> optimal" in out.stdout.decode()

    assert _zos("-c", c, "delete", "piped").returncode == 0
    out = _zos("-c", c, "download", "piped")
    assert out.returncode == 1
    assert out.stderr.decode() == "error: no file stored under key 'piped'; see `zos stor list`\n"


def _one_line_error(out: subprocess.CompletedProcess[bytes], *needles: str) -> None:
    err = out.stderr.decode()
    assert out.returncode != 0
    assert err.startswith("error: "), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err


def test_cli_errors(cluster, tmp_path):
    conf = tmp_path / "zstor.yaml"
    _one_line_error(_zos("-c", str(conf), "list"), "cannot read config", "zstor.yaml")

    cfg = config_dict(cluster)
    cfg["datastor"]["pipeline"]["encryption"]["private_key"] = "xyz"
    conf.write_text(yaml.safe_dump(cfg))
    _one_line_error(_zos("-c", str(conf), "list"), "private_key must be 64 hex")

    cfg = config_dict(cluster)
    cfg["password"] = "wrong"
    conf.write_text(yaml.safe_dump(cfg))
    _one_line_error(_zos("-c", str(conf), "upload", "-", "--key", "k", input=b"x"), "password")

    cfg = config_dict(cluster)
    cfg["metastor"]["shards"][0]["address"] = "127.0.0.1:1"
    conf.write_text(yaml.safe_dump(cfg))
    _one_line_error(_zos("-c", str(conf), "list"), "127.0.0.1:1", "unreachable")

    cfg = config_dict(cluster, maxsize=1000)
    conf.write_text(yaml.safe_dump(cfg))
    big = tmp_path / "big"
    big.write_bytes(os.urandom(200_000))
    _one_line_error(_zos("-c", str(conf), "upload", str(big)), "full")

    # every command that fails says so with its exit code
    conf.write_text(yaml.safe_dump(config_dict(cluster)))
    for command in (["metadata"], ["download"], ["delete"], ["check"], ["repair"]):
        out = _zos("-c", str(conf), *command, "missing")
        _one_line_error(out, "no file stored under key 'missing'")
        assert out.returncode == 1, command
    _one_line_error(_zos("-c", str(conf), "upload", str(tmp_path / "nothing")), "cannot read")
    assert _zos("-c", str(conf), "check").returncode == 2  # a usage error: neither KEY nor --all


def test_check_and_repair_exit_1_unless_optimal(own_cluster, tmp_path):
    cluster = own_cluster(6)
    conf = tmp_path / "zstor.yaml"
    conf.write_text(yaml.safe_dump(config_dict(cluster)))
    c = str(conf)
    assert _zos("-c", c, "upload", "-", "--key", "f", input=os.urandom(200_000)).returncode == 0
    assert _zos("-c", c, "check", "f").returncode == 0

    cluster.kill(1)  # one shard of every block gone; 4+2 on six servers leaves no spare
    out = _zos("-c", c, "check", "f")
    assert (out.returncode, out.stdout.decode().split("\t")[:2]) == (1, ["f", "degraded"])
    out = _zos("-c", c, "check", "--all")
    assert out.returncode == 1, out.stdout
    out = _zos("-c", c, "repair", "f")
    assert out.returncode == 1, out.stderr
    assert "f\tdegraded -> degraded\t0 shards" in out.stdout.decode()

    cluster.kill(2)
    cluster.kill(3)  # three of six: too many for 4+2
    out = _zos("-c", c, "check", "f")
    assert (out.returncode, out.stdout.decode().split("\t")[:2]) == (1, ["f", "lost"])
    assert _zos("-c", c, "repair", "--all").returncode == 1
