"""zero-db's older variables are read by the settings loader, not by the library."""

from __future__ import annotations

import pytest

from zeroos.common.settings import SettingsError, load
from zeroos.zdb.settings import ZdbSettings
from zeroos.zdb.tarantool.auth import resolve

TARANTOOL = {"engine": "tarantool", "tarantool": "127.0.0.1:3301"}


def test_the_tarantool_password_variable_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOS_TARANTOOL_PASSWORD", "from-the-environment")
    settings = load(ZdbSettings, TARANTOOL)
    assert settings.tarantool_password is not None
    assert settings.tarantool_password.get_secret_value() == "from-the-environment"
    assert "from-the-environment" not in repr(settings)
    # the library takes it only as given: the variable alone is not read there
    assert resolve("127.0.0.1:3301") == ("127.0.0.1:3301", None)
    plain, credentials = resolve("127.0.0.1:3301", password="given")
    assert credentials is not None
    assert (plain, credentials.user, credentials.password) == ("127.0.0.1:3301", "zdb", "given")


@pytest.mark.parametrize("variable", ["ZOS_NO_NATIVE", "ZOS_ZDB_NO_NATIVE"])
def test_no_native_is_a_setting(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    assert load(ZdbSettings).no_native is False
    monkeypatch.setenv(variable, "1")
    assert load(ZdbSettings).no_native is True
    monkeypatch.setenv(variable, "maybe")
    with pytest.raises(SettingsError, match=r"'no_native' .*: Input should be a valid boolean"):
        load(ZdbSettings)
