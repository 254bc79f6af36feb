"""Blueprints in 0-robot's shape: the services to create, then the actions to schedule.

services:
  - github.com/me/templates/node/0.0.1__node1:
      hostname: node1
actions:
  - template: github.com/me/templates/node/0.0.1   # optional filters
    service: node1
    actions: [install, start]
    args: {}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import BadRequest
from .models import ServiceCreate


@dataclass
class ActionStep:
    """One entry of ``actions``: which actions, on which services, with which arguments."""

    actions: list[str]
    template: str | None = None
    service: str | None = None
    args: dict[str, Any] = field(default_factory=dict)


def parse_yaml(text: str) -> dict[str, Any]:
    """A blueprint's YAML text as a mapping; BadRequest naming the problem."""
    try:
        content = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BadRequest(f"the blueprint is not YAML: {str(exc).splitlines()[0]}") from exc
    if not isinstance(content, dict):
        raise BadRequest("a blueprint is a mapping with 'services' and 'actions'")
    return content


def parse_services(items: Any) -> list[ServiceCreate]:
    """``services``: a list of ``{TEMPLATE__NAME: data}`` (a mapping is accepted too)."""
    if isinstance(items, dict):
        items = [{k: v} for k, v in items.items()]
    if not isinstance(items, list):
        raise BadRequest("blueprint 'services' must be a list of {template__name: data}")
    asks: list[ServiceCreate] = []
    for item in items:
        if not isinstance(item, dict) or len(item) != 1:
            raise BadRequest(f"blueprint service {item!r} is not one {{template__name: data}}")
        ((key, data),) = item.items()
        template, sep, name = str(key).rpartition("__")
        if not sep or not template or not name:
            raise BadRequest(f"blueprint service {key!r} is not TEMPLATE__NAME")
        if data is not None and not isinstance(data, dict):
            raise BadRequest(f"the data of blueprint service {key!r} is not a mapping")
        try:
            asks.append(ServiceCreate(template=template, name=name, data=data or {}))
        except ValueError as exc:
            raise BadRequest(f"blueprint service {key!r}: {exc}") from exc
    names = [a.name for a in asks]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise BadRequest(f"the blueprint names service {', '.join(twice)} twice")
    return asks


def parse_actions(items: Any) -> list[ActionStep]:
    """``actions``: a list of ``{actions: [..] | action: .., template?, service?, args?}``."""
    if not isinstance(items, list):
        raise BadRequest("blueprint 'actions' must be a list")
    steps: list[ActionStep] = []
    for item in items:
        if not isinstance(item, dict):
            raise BadRequest(f"blueprint action {item!r} is not a mapping")
        names = item.get("actions", item.get("action"))
        names = [names] if isinstance(names, str) else names
        args = item.get("args") or {}
        if not names or not all(isinstance(n, str) for n in names) or not isinstance(args, dict):
            raise BadRequest(f"blueprint action {item!r} needs 'actions' (names) and dict 'args'")
        steps.append(
            ActionStep(
                actions=list(names),
                template=item.get("template"),
                service=item.get("service"),
                args=args,
            )
        )
    return steps
