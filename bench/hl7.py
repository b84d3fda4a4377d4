"""How fast are HL7 messages acknowledged over MLLP, and applied?

    .venv/bin/python bench/hl7.py [--count 1000] [--connections 4] [--window 1]
    DATABASE_URL=postgres://... .venv/bin/python bench/hl7.py

Starts the real listener (`ingest.mllp`) in this process with the embedded
in-process workers (no broker), sends COUNT ADT^A01 messages (distinct
patients) spread over CONNECTIONS raw sockets, each sender keeping WINDOW
messages unanswered (1: wait for each ACK, as most interface engines do).
Prints acknowledged messages/s (every one stored before its ACK) and
applied messages/s (until every message is DONE). Asserts nothing. Without
DOSEMGMT_DATA_DIR it works in a temporary directory (SQLite there); with a
DATABASE_URL it writes only rows of the messages and patients it makes.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _setup() -> None:
    if not os.environ.get("DOSEMGMT_DATA_DIR"):
        os.environ["DOSEMGMT_DATA_DIR"] = tempfile.mkdtemp(prefix="dm-bench-hl7-")
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dosemgmt.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _message(run: str, n: int) -> bytes:
    text = "\r".join(
        [
            f"MSH|^~\\&|BENCH|HOSP|DOSEMGMT|HOSP|20250301101500||ADT^A01^ADT_A01|{run}-{n}|P|2.5",
            "EVN|A01|20250301101500",
            f"PID|1||{run}-{n}^^^BENCH^MR||Bench^Patient{n}||19700102|F",
            "PV1|1|O|RAD^1^1",
        ]
    )
    return b"\x0b" + text.encode() + b"\x1c\x0d"


def _sender(port: int, messages: list[bytes], window: int, errors: list[str]) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sent = answered = 0
        buffer = b""
        while answered < len(messages):
            while sent < len(messages) and sent - answered < window:
                sock.sendall(messages[sent])
                sent += 1
            chunk = sock.recv(65536)
            if not chunk:
                errors.append("connection closed")
                return
            buffer += chunk
            while b"\x1c\x0d" in buffer:
                ack, buffer = buffer.split(b"\x1c\x0d", 1)
                if b"MSA|AA|" not in ack:
                    errors.append(ack.decode("latin-1"))
                answered += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--window", type=int, default=1)
    args = parser.parse_args()
    _setup()
    from django.conf import settings

    from ingest.dispatch import start_inprocess_workers, stop_inprocess_workers
    from ingest.mllp import Hl7ListenerConfig, hl7_listener_start, hl7_listener_stop
    from ingest.models import Hl7Message

    pool = start_inprocess_workers(2)
    listener = hl7_listener_start(config=Hl7ListenerConfig(bind_address="127.0.0.1", port=0))
    run = uuid.uuid4().hex[:8]
    messages = [_message(run, n) for n in range(args.count)]
    shares = [messages[i :: args.connections] for i in range(args.connections)]
    errors: list[str] = []
    started = time.perf_counter()
    threads = [
        threading.Thread(target=_sender, args=(listener.server_address[1], share, args.window, errors))
        for share in shares
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    acked = time.perf_counter() - started
    mine = Hl7Message.objects.filter(control_id__startswith=f"{run}-")
    while mine.filter(status=Hl7Message.Status.DONE).count() < args.count:
        if time.perf_counter() - started > 900:
            print("gave up waiting for processing after 900 s")
            break
        time.sleep(0.1)
    applied = time.perf_counter() - started
    hl7_listener_stop(listener)
    pool.shutdown(wait=True)
    stop_inprocess_workers()

    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print(f"database {engine}, {args.count} ADT^A01 over {args.connections} connections, window {args.window}")
    print(f"  acknowledged (stored)  {args.count / acked:8.0f} messages/s  ({acked:.2f} s)")
    print(f"  applied (DONE)         {args.count / applied:8.0f} messages/s  ({applied:.2f} s)")
    print(f"  rows stored {mine.count()}, non-AA answers {len(errors)}")


if __name__ == "__main__":
    main()
