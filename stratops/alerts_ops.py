"""Alert delivery from settings: the resolved delivery config (secrets read from the
environment or owner-only files) and the worker started beside a runner session."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stratops.settings import Settings

if TYPE_CHECKING:
    from live.alerts.config import DeliveryConfig
    from live.alerts.dispatcher import AlertDispatcher


def _secret_file(path: Path, label: str) -> bytes:
    from live.alerts.config import AlertConfigError

    try:
        info = os.stat(path, follow_symlinks=False)
    except OSError as exc:
        raise AlertConfigError(f"{label}={path}: cannot read the secret file ({exc.strerror})"
                               ) from None
    if not stat.S_ISREG(info.st_mode) or info.st_mode & 0o077:
        raise AlertConfigError(f"{label}={path}: must be a regular file readable by its "
                               f"owner only (mode {stat.filemode(info.st_mode)}); chmod 600")
    secret = path.read_bytes().strip()
    if len(secret) < 16:
        raise AlertConfigError(f"{label}={path}: the HMAC key is shorter than 16 bytes")
    return secret


def _secret_env(name: str, label: str, *, minimum: int = 16) -> str:
    from live.alerts.config import AlertConfigError

    value = os.environ.get(name, "")
    if len(value) < minimum:
        raise AlertConfigError(f"{label}={name}: the environment variable is unset or "
                               f"shorter than {minimum} characters")
    return value


def delivery_config(settings: Settings, *, secrets: bool = True) -> DeliveryConfig:
    """``alerts.*`` resolved (secrets read now; a missing one is named). ``secrets=False``:
    for reading the queue only (``alerts list``, ``ack``) - nothing can be sent with it.

    Raises
    ------
    AlertConfigError
        A secret that is missing or exposed, no tiers.
    """
    from live.alerts.config import Channel, DeliveryConfig, EmailChannel, WebhookChannel
    from live.events import Severity

    alerts = settings.alerts
    channels: dict[str, Channel] = {}
    for i, hook in enumerate(alerts.webhooks):
        label = f"alerts.webhooks[{i}] ({hook.name})"
        secret = b"" if not secrets else \
            _secret_file(settings.path(hook.secret_file), f"{label}.secret_file") \
            if hook.secret_file is not None else \
            _secret_env(str(hook.secret_env), f"{label}.secret_env").encode()
        channels[hook.name] = WebhookChannel(hook.name, hook.url, secret, hook.timeout_seconds)
    for i, mail in enumerate(alerts.emails):
        password = None if mail.password_env is None or not secrets else _secret_env(
            mail.password_env, f"alerts.emails[{i}] ({mail.name}).password_env", minimum=1)
        channels[mail.name] = EmailChannel(mail.name, mail.host, mail.port, mail.sender,
                                           mail.to, mail.starttls, mail.username, password,
                                           mail.timeout_seconds)
    return DeliveryConfig(
        db_path=settings.path(alerts.db_path), channels=channels, tiers=alerts.tiers,
        min_severity=Severity(alerts.min_severity),
        dedup_window_s=alerts.dedup_window_seconds, coalesce_s=alerts.coalesce_seconds,
        escalate_after_s=alerts.escalate_after_minutes * 60,
        retry_initial_s=alerts.retry_initial_seconds, retry_max_s=alerts.retry_max_seconds,
        poll_s=alerts.poll_seconds)


def configure_alerts(settings: Settings) -> DeliveryConfig:
    """Resolve ``alerts.*`` and make :func:`live.alerts.page.page` use it in this process
    (the watchdog calls this once, then ``page``)."""
    from live.alerts.page import configure

    config = delivery_config(settings)
    configure(config)
    return config


def watchdog_pagers(settings: Settings) -> list[Any]:
    """The dead-man watchdog's pagers beside its page file: tier 0 of the alert delivery
    when ``alerts.enabled`` (README, Observability), else none."""
    if not settings.alerts.enabled:
        return []
    from live.observability.pager import DeliveryPager

    configure_alerts(settings)
    return [DeliveryPager()]


def dispatcher(settings: Settings, mode: str | None) -> AlertDispatcher:
    """The delivery worker over ``settings`` (reading ``mode``'s journal; None: only the
    queue, for pages and retries)."""
    from live.alerts.dispatcher import AlertDispatcher
    from live.alerts.outbox import Outbox

    config = configure_alerts(settings)
    read = None
    if mode is not None:
        from stratops.live_ops import open_mode_journal

        journal = open_mode_journal(settings, mode)  # its own connection: never the runner's

        def read(after: int) -> Iterator[tuple[int, Any]]:
            return journal.read(after + 1)
    return AlertDispatcher(config, Outbox(config.db_path, config), read_after=read,
                           source=f"journal-{mode}")


@contextmanager
def alert_delivery(settings: Settings, mode: str, from_seq: int) -> Iterator[None]:
    """Deliver ``mode``'s journal alerts from a background thread while the block runs
    (nothing when ``alerts.enabled`` is false). A journal first seen is read after
    ``from_seq``; a known one from where delivery stopped."""
    if not settings.alerts.enabled:
        yield
        return
    worker = dispatcher(settings, mode)
    worker.start(from_seq)
    try:
        yield
    finally:
        worker.stop()
