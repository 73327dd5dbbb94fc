"""The connector's wired-up parts for one process: settings, store, queue, audit,
registry, manifest and the clients the plugins use. Built once by ``create_app`` or
the CLI; nothing here is a module-level global."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from connector.audit import AuditLog
from connector.config import Settings
from connector.pipeline.queue import JobQueue
from connector.pipeline.retry import RetryPolicy
from connector.registry import Registry
from connector.store import Store

log = logging.getLogger("connector")


@dataclass
class Runtime:
    settings: Settings
    store: Store
    queue: JobQueue
    audit: AuditLog
    registry: Registry
    manifest: Any = None
    services: dict[str, Any] = field(default_factory=dict)

    def worker(self, **kwargs):
        """A worker over this runtime. Every handler the registry names is imported first
        (they are declared lazily so that the web process need not load them)."""
        from connector.pipeline.worker import Worker

        self.registry.resolve_all()
        return Worker(self.queue, self.registry, self.audit, services=self.services, **kwargs)


def build_runtime(settings: Settings, *, registry: Registry | None = None, manifest: Any = None,
                  policy: RetryPolicy | None = None, migrate: bool = False,
                  with_manifest: bool = True, role: str | None = None, **queue_options) -> Runtime:
    """Wire the parts. ``manifest`` given → used as is; otherwise loaded from
    ``settings.manifest_path`` (an invalid manifest stops start-up with every problem).
    ``with_manifest=False`` is for commands that only touch the store (jobs, audit, db).
    The ``web`` role checks the manifest in a child process (``manifest/isolated.py``):
    the same check, without keeping the checker in every web worker."""
    store = Store(settings.database_url)
    if migrate:
        store.migrate()
    if manifest is None and with_manifest:
        manifest = load_manifest_for(settings, isolated=role == "web")
    if not with_manifest and registry is None:
        registry = Registry()
    if registry is None:
        from plugins import default_registry

        registry = default_registry(settings, manifest)
    queue = JobQueue(store, policy=policy, **queue_options)
    audit = AuditLog(store, clock=queue.clock)
    services: dict[str, Any] = {"settings": settings, "manifest": manifest}
    return Runtime(settings, store, queue, audit, registry, manifest, services)


def load_manifest_for(settings: Settings, *, isolated: bool = False):
    if isolated:
        from connector.manifest.isolated import load_manifest_isolated

        return load_manifest_isolated(settings.manifest_path)
    from connector.manifest import load_manifest

    return load_manifest(settings.manifest_path)
