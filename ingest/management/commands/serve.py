"""The embedded product in one command: database, DICOM SCP, workers, sweeper, web.

Production runs each part as its own process (gunicorn, run_scp, Celery
worker and beat); this command runs them as threads of one process, for a
single machine beside the modalities.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from urllib.parse import urlparse

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler, get_internal_wsgi_application
from django.db import close_old_connections, connection

from alerts.services import alerts_sweep
from drl.services import mapping_refresh
from ingest.dispatch import start_inprocess_workers, stop_inprocess_workers
from ingest.mllp import Hl7ListenerConfig, hl7_listener_start, hl7_listener_stop
from ingest.mpps import mpps_step_sweep
from ingest.receipts import receipts_recover
from ingest.scp import ScpConfig, scp_start, scp_stop
from ingest.services import spool_sweep
from ris.services import hl7_message_sweep

INPROCESS_WORKERS = 2

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Run dosemgmt on one machine: migrate, then DICOM SCP, processing, sweeper and web UI."

    def add_arguments(self, parser):
        parser.add_argument("--web-port", type=int, help=f"web UI port (default {settings.WEB_PORT})")
        parser.add_argument("--scp-port", type=int, help=f"DICOM port (default {settings.DICOM_PORT})")
        parser.add_argument("--hl7-port", type=int, help=f"HL7 MLLP port (default {settings.HL7_PORT})")
        parser.add_argument("--no-web", action="store_true", help="do not serve the web UI")

    def handle(self, *args, **options):
        stop = threading.Event()
        signals: list[int] = []
        self._handle_signals(signals)

        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)

        pool = None if settings.CELERY_BROKER_URL else start_inprocess_workers(INPROCESS_WORKERS)
        # What an earlier run answered but never registered gets its rows
        # first; with in-process workers the sweeper's first round below
        # enqueues them with everything else left unprocessed.
        receipts_recover(enqueue=pool is None)
        connection.close()
        # Before the SCP, so its first round sees only what earlier runs left.
        sweeper = threading.Thread(
            target=_sweep_until,
            args=(stop,),
            kwargs={"leftovers_first": pool is not None},
            name="spool-sweeper",
            daemon=True,
        )
        sweeper.start()
        scp_config = ScpConfig()
        if options["scp_port"] is not None:
            scp_config.port = options["scp_port"]
        try:
            scp = scp_start(config=scp_config, recover=False)
        except OSError as exc:
            raise CommandError(f"cannot listen for DICOM on port {scp_config.port}: {exc}") from exc
        hl7_config = Hl7ListenerConfig(port=options["hl7_port"])
        try:
            hl7 = hl7_listener_start(config=hl7_config)
        except OSError as exc:
            scp_stop(scp)
            raise CommandError(f"cannot listen for HL7 on port {hl7_config.port}: {exc}") from exc
        web = None if options["no_web"] else self._start_web(options["web_port"] or settings.WEB_PORT)

        self._banner(scp_port=scp.server_address[1], scp_config=scp_config, web=web, hl7=hl7)
        while not signals:
            time.sleep(0.2)
        stop.set()

        self.stdout.write("stopping: no new associations or requests; finishing running work")
        scp_stop(scp)
        hl7_listener_stop(hl7)
        if web is not None:
            web.shutdown()
            web.server_close()
        sweeper.join(timeout=10)
        if pool is not None:
            # Queued objects stay RECEIVED in the database and are swept up
            # on the next start; only the running ones are finished.
            pool.shutdown(wait=True, cancel_futures=True)
            stop_inprocess_workers()
        self.stdout.write("stopped")

    def _handle_signals(self, signals: list[int]) -> None:
        # The handler only appends: it runs in the main thread between any two
        # bytecodes, so taking a lock there (Event.set, Thread.start) can
        # deadlock with the main thread itself.
        def on_signal(signum, frame):
            if signals:
                # A second Ctrl-C: the user does not want to wait.
                os._exit(1)
            signals.append(signum)

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    def _start_web(self, port: int) -> ThreadedWSGIServer:
        try:
            httpd = ThreadedWSGIServer((settings.WEB_BIND_ADDRESS, port), WSGIRequestHandler)
        except OSError as exc:
            raise CommandError(
                f"cannot serve the web UI on {settings.WEB_BIND_ADDRESS}:{port}: {exc}"
            ) from exc
        httpd.daemon_threads = True
        httpd.set_app(get_internal_wsgi_application())
        threading.Thread(target=httpd.serve_forever, name="web", daemon=True).start()
        return httpd

    def _banner(self, *, scp_port: int, scp_config: ScpConfig, web: ThreadedWSGIServer | None, hl7) -> None:
        if web is not None:
            host, port = web.server_address[:2]
            web_line = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
        else:
            web_line = "off (--no-web)"
        processing = (
            f"Celery broker {_without_password(settings.CELERY_BROKER_URL)}"
            if settings.CELERY_BROKER_URL
            else f"in-process ({INPROCESS_WORKERS} worker threads)"
        )
        allowed = ", ".join(scp_config.allowed_calling_aes) or "any"
        lines = [
            "dosemgmt is running",
            f"  web UI      {web_line}",
            f"  DICOM SCP   AE title {scp_config.ae_title}, port {scp_port} on {scp_config.bind_address}"
            f" (calling AEs: {allowed})",
            f"  HL7 MLLP    port {hl7.server_address[1]} on {hl7.config.bind_address}",
            f"  data dir    {settings.DATA_DIR}",
            f"  database    {_database_label()}",
            f"  processing  {processing}",
            "Stop with Ctrl-C.",
        ]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()


def _sweep_until(stop: threading.Event, *, leftovers_first: bool) -> None:
    """Re-enqueue what was stored but never processed (e.g. across a crash)."""
    # With in-process workers nothing else can be working on an object at
    # start-up: whatever is unfinished was left by the previous run.
    older_than = 0 if leftovers_first else settings.SWEEPER_STALE_AFTER_SECONDS
    while not stop.is_set():
        close_old_connections()
        try:
            spool_sweep(older_than_seconds=older_than)
            mpps_step_sweep(older_than_seconds=older_than)
            hl7_message_sweep(older_than_seconds=older_than)
            # Standard-procedure mapping of new and changed studies (beat does it with a broker).
            mapping_refresh()
            # Alert rules over new and changed studies (beat `alerts-evaluate` with a broker).
            alerts_sweep()
        except Exception:
            # The next round tries again; a dead sweeper would go unnoticed.
            logger.exception("spool sweep failed")
        finally:
            connection.close()
        older_than = settings.SWEEPER_STALE_AFTER_SECONDS
        stop.wait(settings.SWEEPER_INTERVAL_SECONDS)


def _database_label() -> str:
    db = settings.DATABASES["default"]
    engine = db["ENGINE"].rsplit(".", 1)[-1]
    if engine == "sqlite3":
        return f"SQLite {db['NAME']}"
    return (
        f"{engine} {db.get('USER') or ''}@{db.get('HOST') or 'localhost'}:{db.get('PORT') or ''}/{db['NAME']}"
    )


def _without_password(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        netloc = f"{parsed.username or ''}:***@{parsed.hostname}" + (f":{parsed.port}" if parsed.port else "")
        return parsed._replace(netloc=netloc).geturl()
    return url
