"""Repository names that would shadow a route of the hub's web site are refused."""

from __future__ import annotations

import pytest

from zeroos.common.metrics import PATH
from zeroos.hub.errors import BadRequest
from zeroos.hub.names import check_user


@pytest.mark.parametrize("name", ["api", "static", "login", "metrics", "Metrics", PATH.strip("/")])
def test_a_name_of_a_route_is_reserved(name: str) -> None:
    with pytest.raises(BadRequest, match=r"is reserved$"):
        check_user(name)


def test_an_ordinary_name_passes() -> None:
    assert check_user("metrics-team") == "metrics-team"
