"""Settings: flags, then ZOS_<PART>_* variables, then a config file, then defaults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import redis

from zeroos.common.harness import Child, zos_serve
from zeroos.common.settings import SettingsError, load, read_config_file
from zeroos.identity.settings import IdSettings
from zeroos.zdb.settings import ZdbSettings


@pytest.fixture(autouse=True)
def _no_zdb_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("ZOS_ZDB_"):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    settings = load(ZdbSettings)
    assert (settings.listen, settings.port, settings.data, settings.chain) == (
        "127.0.0.1",
        9900,
        "zdb-data",
        True,
    )
    assert settings.admin is None


def test_flags_beat_variables_beat_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "zdb.yaml"
    conf.write_text("port: 1111\ngrace: 5\ndatasize: 4096\nlisten: 0.0.0.0\ntarantool-db: x\n")
    monkeypatch.setenv("ZOS_ZDB_CONFIG", str(conf))
    monkeypatch.setenv("ZOS_ZDB_PORT", "2222")
    monkeypatch.setenv("ZOS_ZDB_GRACE", "6")
    settings = load(ZdbSettings, {"port": 3333})
    assert settings.port == 3333  # the flag
    assert settings.grace == 6  # the variable over the file
    assert settings.datasize == 4096  # the file
    assert settings.listen == "0.0.0.0"
    assert settings.tarantool_db == "x"  # a dash in the file reads as the flag's underscore
    assert settings.engine == "embedded"  # the default


@pytest.mark.parametrize("config", [None, "zdb.toml", "zdb.yaml"])
def test_yaml_is_imported_only_to_read_a_yaml_file(tmp_path: Path, config: str | None) -> None:
    # importing yaml costs ~50 ms of every `zos` start: only a YAML config file pays it
    flags = {}
    if config is not None:
        (tmp_path / config).write_text(
            "port = 1234\n" if config.endswith(".toml") else "port: 1234\n"
        )
        flags = {"config": str(tmp_path / config)}
    probe = (
        "import json, sys\n"
        "from zeroos.common.settings import load\n"
        "from zeroos.zdb.settings import ZdbSettings\n"
        f"settings = load(ZdbSettings, {flags!r})\n"
        "print(json.dumps([settings.port, 'yaml' in sys.modules]))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("ZOS_")}
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=env,
    )
    port, yaml_loaded = json.loads(done.stdout)
    assert port == (9900 if config is None else 1234)
    assert yaml_loaded == (config == "zdb.yaml")


def test_toml_file_named_by_a_flag(tmp_path: Path) -> None:
    conf = tmp_path / "zdb.toml"
    conf.write_text('port = 0\nadmin = "s3cret"\n')
    settings = load(ZdbSettings, {"config": conf})
    assert settings.port == 0
    assert settings.admin is not None
    assert settings.admin.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)  # a secret never shows in a log or a traceback


@pytest.mark.parametrize(
    ("content", "suffix", "expected"),
    [
        ("port: 70000\n", ".yaml", r"^zdb: setting 'port' \(--port, ZOS_ZDB_PORT\): .*65535"),
        ("colour: blue\n", ".yaml", r"^zdb: setting 'colour' .*: Extra inputs are not permitted"),
        ("sync: true\nsynctime: 1\n", ".yml", r"^zdb: --sync and --synctime exclude each other"),
        ("engine = 'tarantool'\n", ".toml", r"^zdb: --engine tarantool needs --tarantool"),
        ("- a list\n", ".yaml", r"expected a mapping of settings"),
        ("port = \n", ".toml", r"is not valid"),
        ("port: 1\n", ".ini", r"name it \.yaml, \.yml or \.toml"),
    ],
)
def test_bad_settings_are_one_error(
    tmp_path: Path, content: str, suffix: str, expected: str
) -> None:
    conf = tmp_path / f"zdb{suffix}"
    conf.write_text(content)
    with pytest.raises(SettingsError, match=expected) as info:
        load(ZdbSettings, {"config": conf})
    assert "\n" not in str(info.value)
    assert info.value.exit_code == 2


def test_a_bad_variable_names_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOS_ZDB_DATASIZE", "lots")
    with pytest.raises(SettingsError, match=r"'datasize' \(--datasize, ZOS_ZDB_DATASIZE\)"):
        load(ZdbSettings)


def test_missing_file_is_one_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"cannot read config file .*nope\.yaml"):
        read_config_file(tmp_path / "nope.yaml")


def test_zos_zdb_serve_takes_a_config_file_and_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "zdb.toml"
    conf.write_text(f'port = 0\ndata = "{tmp_path / "d"}"\nindex = "{tmp_path / "i"}"\n')
    monkeypatch.setenv("ZOS_ZDB_ADMIN", "adminpw")
    with Child(zos_serve("zdb", "--config", str(conf)), tmp_path / "r", log=tmp_path / "log") as z:
        assert (tmp_path / "d").is_dir()
        with redis.Redis(port=z.port, socket_timeout=10) as client:
            with pytest.raises(redis.ResponseError, match="Permission denied"):
                client.execute_command("NSNEW", "x")  # the admin password came from the variable
            client.execute_command("AUTH", "adminpw")
            assert client.execute_command("NSNEW", "x") == b"OK"


def test_zos_zdb_serve_bad_settings_exit_2_with_one_line(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "zeroos.cli", "zdb", "serve", "--sync", "--synctime", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert out.returncode == 2
    assert out.stderr == "error: zdb: --sync and --synctime exclude each other: choose one\n"
    assert list(tmp_path.iterdir()) == []  # nothing was created


def test_id_settings_from_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOS_ID_ZDB_ADMIN", "zdbadmin")
    monkeypatch.setenv("ZOS_ID_TOKEN_TTL", "120")
    settings = load(IdSettings, {"port": 0})
    assert settings.zdb_admin is not None
    assert settings.zdb_admin.get_secret_value() == "zdbadmin"
    assert settings.token_ttl == 120
    monkeypatch.setenv("ZOS_ID_TOKEN_TTL", "59")
    with pytest.raises(
        SettingsError, match=r"^id: setting 'token_ttl' \(--token-ttl, ZOS_ID_TOKEN"
    ):
        load(IdSettings)


def test_zos_id_serve_takes_a_config_file(tmp_path: Path) -> None:
    conf = tmp_path / "id.yaml"
    conf.write_text(
        f"port: 0\ndata: {tmp_path / 'data'}\nissuer: https://id.example.test\n"
        "argon2-memory: 8192\nargon2-time: 1\n"
    )
    argv = zos_serve("id", "--config", str(conf))
    with Child(argv, tmp_path / "id.ready", log=tmp_path / "id.log", name="zero-id") as child:
        url = f"http://{child.addresses[0]}/.well-known/openid-configuration"
        assert httpx.get(url, timeout=10).json()["issuer"] == "https://id.example.test"


def test_zero_ids_lease_timings_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOS_ID_LEASE_SECONDS", "3")
    monkeypatch.setenv("ZOS_ID_LEASE_RENEW", "0.5")
    settings = load(IdSettings)
    assert (settings.lease_seconds, settings.lease_renew, settings.lease_confirm) == (3, 0.5, None)
    monkeypatch.setenv("ZOS_ID_LEASE_SECONDS", "soon")
    with pytest.raises(SettingsError, match=r"'lease_seconds' .*ZOS_ID_LEASE_SECONDS\): "):
        load(IdSettings)


def test_sizes_read_as_the_flags_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "zdb.yaml"
    conf.write_text("maxsize: 2G\n")
    monkeypatch.setenv("ZOS_ZDB_DATASIZE", "64M")
    settings = load(ZdbSettings, {"config": conf})
    assert (settings.datasize, settings.maxsize) == (64 * 1024**2, 2 * 1024**3)
    monkeypatch.setenv("ZOS_ZDB_DATASIZE", "64 parsecs")
    with pytest.raises(SettingsError, match=r"'datasize' .*: '64 parsecs' is not a size"):
        load(ZdbSettings)
