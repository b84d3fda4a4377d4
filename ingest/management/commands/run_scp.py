"""Run the DICOM Storage SCP on its own (production: one process per listener)."""

import signal
import time

from django.core.management.base import BaseCommand

from ingest.scp import ScpConfig, scp_start, scp_stop


class Command(BaseCommand):
    help = "Receive DICOM objects (C-STORE, C-ECHO) and store them for processing."

    def add_arguments(self, parser):
        parser.add_argument("--ae-title", help="our AE title (default: settings.DICOM_AE_TITLE)")
        parser.add_argument("--port", type=int, help="TCP port (default: settings.DICOM_PORT)")
        parser.add_argument("--bind", help="address to listen on (default: settings.DICOM_BIND_ADDRESS)")

    def handle(self, *args, **options):
        config = ScpConfig()
        if options["ae_title"]:
            config.ae_title = options["ae_title"]
        if options["port"] is not None:
            config.port = options["port"]
        if options["bind"]:
            config.bind_address = options["bind"]

        # The handler only appends: it runs in the main thread between any two
        # bytecodes, so taking a lock there (Event.set, Thread.start) can
        # deadlock with the main thread itself.
        signals: list[int] = []
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda signum, frame: signals.append(signum))

        server = scp_start(config=config)
        host, port = server.server_address[:2]
        self.stdout.write(f"DICOM SCP {config.ae_title} listening on {host}:{port}", ending="\n")
        self.stdout.flush()
        while not signals:
            time.sleep(0.2)
        self.stdout.write("stopping: finishing running associations")
        scp_stop(server)
        self.stdout.write("stopped")
