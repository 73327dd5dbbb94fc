"""Plugins and the dispatch table.

Plugins are registered explicitly (no discovery by module names). Each declares, per
source system, the event types it handles (a table from event type to handler) and
the ones it deliberately ignores. Anything else is *unsupported*: answered 200 so
the sender does not retry or trip its circuit breaker, and logged so we notice.

Three outcomes for an inbound event, after Zulip's webhooks:
``handled`` (stored, jobs enqueued), ``ignored`` (200, silent), ``unsupported`` (200, logged).
Malformed bodies never reach the registry: they are answered 400 by the intake.

A handler may be given as :func:`lazy` ``("package.module:function")``: the table is
built from the plugin's declaration alone and the module is imported the first time the
handler is looked up. The web process routes events but never runs handlers, so it
does not import them (nor the vendor client libraries they use); a worker resolves
every handler when it starts (:meth:`Registry.resolve_all`), so a broken reference
stops it at once instead of failing jobs.
"""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

if TYPE_CHECKING:
    from connector.pipeline.context import JobContext

HandlerFn = Callable[["JobContext"], None]

_TARGET = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")


class LazyHandler:
    """A handler named by ``"package.module:function"``, imported when first needed."""

    __slots__ = ("target", "_fn")

    def __init__(self, target: str):
        if not isinstance(target, str) or not _TARGET.match(target):
            raise ValueError(f"a lazy handler is named 'package.module:function', not {target!r}")
        self.target = target
        self._fn: HandlerFn | None = None

    def resolve(self) -> HandlerFn:
        if self._fn is None:
            module_name, name = self.target.split(":")
            try:
                fn = getattr(importlib.import_module(module_name), name)
            except (ImportError, AttributeError) as error:
                raise LookupError(f"handler {self.target} cannot be loaded: {error}") from error
            if not callable(fn):
                raise LookupError(f"handler {self.target} is not callable")
            self._fn = fn
        return self._fn

    def __call__(self, ctx: "JobContext") -> None:
        return self.resolve()(ctx)

    def __repr__(self) -> str:
        return f"lazy({self.target!r})"


def lazy(target: str) -> LazyHandler:
    """A handler imported from ``"package.module:function"`` on first use."""
    return LazyHandler(target)


def _resolved(fn: HandlerFn) -> HandlerFn:
    return fn.resolve() if isinstance(fn, LazyHandler) else fn


@dataclass(frozen=True)
class Plugin:
    name: str
    """Short unique name; handler names are ``<plugin>.<event type or job name>``."""
    handles: Mapping[tuple[str, str], HandlerFn] = field(default_factory=dict)
    """(source, event_type) -> handler run as a job for each such inbound event."""
    ignores: frozenset[tuple[str, str]] = frozenset()
    """(source, event_type) pairs this plugin knows about and deliberately drops."""
    jobs: Mapping[str, HandlerFn] = field(default_factory=dict)
    """Follow-up job handlers other code may enqueue by name (``<plugin>.<name>``)."""
    listens: Mapping[str, str] = field(default_factory=dict)
    """Topic -> the name of one of ``jobs``: queued (same lane, after the publishing job)
    whenever a job publishes that topic. ``escalation.changed`` is published after every
    change to an escalation's record or timeline (the Salesforce mirror listens)."""


@dataclass(frozen=True)
class Route:
    outcome: str  # handled | ignored | unsupported
    handlers: tuple[str, ...] = ()


class Registry:
    def __init__(self, plugins: Iterable[Plugin] = ()):
        self._plugins: dict[str, Plugin] = {}
        self._table: dict[tuple[str, str], list[str]] = {}
        self._ignored: set[tuple[str, str]] = set()
        self._handlers: dict[str, HandlerFn] = {}
        self._listeners: dict[str, list[str]] = {}
        for plugin in plugins:
            self.register(plugin)

    def register(self, plugin: Plugin) -> None:
        if plugin.name in self._plugins:
            raise ValueError(f"plugin {plugin.name!r} is registered twice")
        self._plugins[plugin.name] = plugin
        for (source, event_type), fn in plugin.handles.items():
            name = f"{plugin.name}.{event_type}"
            self._handlers[name] = fn
            self._table.setdefault((source, event_type), []).append(name)
        for job_name, fn in plugin.jobs.items():
            name = f"{plugin.name}.{job_name}"
            if name in self._handlers:
                raise ValueError(f"handler {name!r} is declared twice")
            self._handlers[name] = fn
        self._ignored |= set(plugin.ignores)
        for topic, job_name in plugin.listens.items():
            if job_name not in plugin.jobs:
                raise ValueError(f"plugin {plugin.name!r} listens to {topic!r} with {job_name!r}, "
                                 "which is not one of its jobs")
            self._listeners.setdefault(topic, []).append(f"{plugin.name}.{job_name}")

    @property
    def plugins(self) -> tuple[Plugin, ...]:
        return tuple(self._plugins.values())

    def route(self, source: str, event_type: str) -> Route:
        handlers = self._table.get((source, event_type))
        if handlers:
            return Route("handled", tuple(handlers))
        if (source, event_type) in self._ignored:
            return Route("ignored")
        return Route("unsupported")

    def listeners(self, topic: str) -> tuple[str, ...]:
        """Handler names queued when ``topic`` is published, in registration order."""
        return tuple(self._listeners.get(topic, ()))

    def handler(self, name: str) -> HandlerFn:
        try:
            fn = self._handlers[name]
        except KeyError:
            raise LookupError(
                f"no handler named {name!r}: was its plugin removed from the registry?"
            ) from None
        return _resolved(fn)

    def resolve_all(self) -> None:
        """Import every lazily declared handler now (a worker's start-up): a reference
        that cannot be loaded raises :class:`LookupError` naming it."""
        for fn in self._handlers.values():
            _resolved(fn)

    def describe(self) -> dict[str, Any]:
        return {
            "handled": sorted(f"{s}:{t}" for s, t in self._table),
            "ignored": sorted(f"{s}:{t}" for s, t in self._ignored),
        }
