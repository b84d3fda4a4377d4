"""Run the HL7 MLLP listener on its own (production: one process per listener)."""

import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ingest.dispatch import start_inprocess_workers, stop_inprocess_workers
from ingest.mllp import Hl7ListenerConfig, hl7_listener_start, hl7_listener_stop


class Command(BaseCommand):
    help = "Receive HL7 v2 messages over MLLP (ADT, ORM^O01, OMI^O23), store them and acknowledge."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, help=f"TCP port (default {settings.HL7_PORT})")
        parser.add_argument("--bind", help=f"address to listen on (default {settings.HL7_BIND_ADDRESS})")

    def handle(self, *args, **options):
        config = Hl7ListenerConfig(port=options["port"], bind_address=options["bind"])
        signals: list[int] = []
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda signum, frame: signals.append(signum))
        # Without a broker the messages are applied by threads of this process.
        if not settings.CELERY_BROKER_URL:
            start_inprocess_workers(1)
        try:
            listener = hl7_listener_start(config=config)
        except OSError as exc:
            raise CommandError(f"cannot listen for HL7 on port {config.port}: {exc}") from exc
        host, port = listener.server_address
        self.stdout.write(f"HL7 MLLP listener on {host}:{port}", ending="\n")
        self.stdout.flush()
        while not signals:
            time.sleep(0.2)
        self.stdout.write("stopping: finishing running connections")
        hl7_listener_stop(listener)
        stop_inprocess_workers()
        self.stdout.write("stopped")
