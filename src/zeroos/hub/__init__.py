"""zero-hub: where flists are uploaded, found and served, with 0-hub's REST routes.

    from zeroos.hub import HubClient

    with HubClient("http://127.0.0.1:5555", token=jwt) as hub:
        hub.upload("app.tar.gz")
        print(hub.flists())

``zos hub serve`` runs the server (:func:`zeroos.hub.main.run`); see docs/hub.md.
"""

from .client import HubClient
from .errors import (
    BadRequest,
    Conflict,
    Forbidden,
    HubError,
    LengthRequired,
    NotFound,
    StoreError,
    TooLarge,
    Unauthorized,
)

__all__ = [
    "BadRequest",
    "Conflict",
    "Forbidden",
    "HubClient",
    "HubError",
    "LengthRequired",
    "NotFound",
    "StoreError",
    "TooLarge",
    "Unauthorized",
]
