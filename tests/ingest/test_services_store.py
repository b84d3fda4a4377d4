import os
from pathlib import Path

import pytest

from ingest.models import ReceivedObject
from ingest.services import received_object_store

pytestmark = pytest.mark.django_db

Status = ReceivedObject.Status
RDSR_CLASS = "1.2.840.10008.5.1.4.1.1.88.67"


def _store(data=b"object bytes", uid="1.2.3.4", **kwargs):
    kwargs.setdefault("sop_class_uid", RDSR_CLASS)
    kwargs.setdefault("origin", "scp")
    kwargs.setdefault("enqueue", False)
    return received_object_store(data=data, sop_instance_uid=uid, **kwargs)


def test_it_writes_the_bytes_and_the_row_before_returning(spool):
    outcome = _store(
        data=b"the bytes",
        transfer_syntax_uid="1.2.840.10008.1.2.1",
        calling_ae="CT1",
        called_ae="DOSEMGMT",
        peer_address="10.0.0.5",
    )

    received = ReceivedObject.objects.get()
    assert outcome.created
    assert outcome.received == received
    assert received.status == Status.RECEIVED
    assert received.size_bytes == 9
    assert received.times_received == 1
    assert (received.calling_ae, received.called_ae, received.peer_address) == ("CT1", "DOSEMGMT", "10.0.0.5")
    assert received.spool_path.startswith(str(spool))
    with open(received.spool_path, "rb") as handle:
        assert handle.read() == b"the bytes"


def test_storing_the_same_object_twice_keeps_one_row_and_counts_the_receipts(spool):
    first = _store(data=b"first")
    second = _store(data=b"second", calling_ae="OTHER")

    received = ReceivedObject.objects.get()
    assert first.created and not second.created
    assert received.times_received == 2
    assert received.last_received_at >= received.received_at
    assert received.calling_ae == ""
    with open(received.spool_path, "rb") as handle:
        assert handle.read() == b"first"


def test_a_resend_of_a_done_object_changes_nothing_but_the_count(spool):
    _store()
    ReceivedObject.objects.update(status=Status.DONE, kind="rdsr")

    outcome = _store(data=b"resend")

    received = ReceivedObject.objects.get()
    assert not outcome.created
    assert (received.status, received.kind, received.times_received) == (Status.DONE, "rdsr", 2)


def test_a_resend_of_a_failed_object_replaces_it_and_makes_it_wait_again(spool):
    _store(data=b"broken")
    ReceivedObject.objects.update(status=Status.FAILED, error="unreadable object: truncated", attempts=1)

    outcome = _store(data=b"fixed")

    received = ReceivedObject.objects.get()
    assert not outcome.created
    assert received.status == Status.RECEIVED
    assert received.error == ""
    assert received.times_received == 2
    with open(received.spool_path, "rb") as handle:
        assert handle.read() == b"fixed"


def test_a_resend_rewrites_a_spool_file_that_has_gone_missing(spool):
    first = _store(data=b"bytes")
    os.unlink(first.received.spool_path)

    _store(data=b"bytes")

    received = ReceivedObject.objects.get()
    with open(received.spool_path, "rb") as handle:
        assert handle.read() == b"bytes"


def test_it_raises_and_keeps_no_row_when_the_spool_cannot_be_written(spool):
    spool.parent.mkdir(parents=True, exist_ok=True)
    spool.write_text("a file where the spool directory should be")

    with pytest.raises(OSError):
        _store()

    assert not ReceivedObject.objects.exists()


def test_it_refuses_an_object_without_a_uid(spool):
    with pytest.raises(ValueError):
        _store(uid="")


def test_a_resend_with_other_content_keeps_the_first_copy_and_says_so(spool):
    _store(data=b"first copy")
    ReceivedObject.objects.update(status=Status.DONE, warnings=["a parser warning"])

    _store(data=b"edited copy")

    received = ReceivedObject.objects.get()
    assert received.status == Status.DONE
    assert received.warnings[0] == "a parser warning"
    assert "different content; the first copy is kept" in received.warnings[1]
    with open(received.spool_path, "rb") as handle:
        assert handle.read() == b"first copy"
    # Nothing received is lost: the other copy is on disk, named in the warning.
    other = Path(received.warnings[1].rsplit(" is in ", 1)[1])
    assert other.read_bytes() == b"edited copy"
    assert other.parent == Path(received.spool_path).parent and other != Path(received.spool_path)


def test_an_identical_resend_adds_no_warning(spool):
    _store(data=b"same")
    _store(data=b"same")

    assert ReceivedObject.objects.get().warnings == []


def test_the_same_other_copy_sent_again_is_reported_once(spool):
    _store(data=b"first copy")
    _store(data=b"edited copy")
    _store(data=b"edited copy")

    warnings = ReceivedObject.objects.get().warnings
    assert len(warnings) == 1 and "different content" in warnings[0]
