import datetime as dt
import os
import subprocess
import sys

import pytest

from ingest.spool import spool_filename, spool_write

WHEN = dt.datetime(2024, 3, 7, 23, 30, tzinfo=dt.UTC)


def test_it_files_objects_by_utc_day_under_their_uid(spool):
    path = spool_write(data=b"DICM bytes", sop_instance_uid="1.2.3.4", when=WHEN)

    assert path == spool / "2024" / "03" / "07" / "1.2.3.4.dcm"
    assert path.read_bytes() == b"DICM bytes"


def test_it_uses_the_utc_date_for_a_local_time(spool):
    berlin_just_after_midnight = dt.datetime(2024, 3, 8, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))

    path = spool_write(data=b"x", sop_instance_uid="1.2", when=berlin_just_after_midnight)

    assert path.parent == spool / "2024" / "03" / "07"


def test_it_leaves_no_temporary_files_behind(spool):
    path = spool_write(data=b"x" * 10_000, sop_instance_uid="1.2.3", when=WHEN)

    assert sorted(p.name for p in path.parent.iterdir()) == ["1.2.3.dcm"]


def test_it_replaces_an_earlier_copy_whole(spool):
    spool_write(data=b"old" * 1000, sop_instance_uid="1.2.3", when=WHEN)

    path = spool_write(data=b"new", sop_instance_uid="1.2.3", when=WHEN)

    assert path.read_bytes() == b"new"


def test_a_failed_write_keeps_the_earlier_copy_and_no_partial_file(spool):
    path = spool_write(data=b"good copy", sop_instance_uid="1.2.3", when=WHEN)

    with pytest.raises(TypeError):
        spool_write(data="not bytes", sop_instance_uid="1.2.3", when=WHEN)  # type: ignore[arg-type]

    assert path.read_bytes() == b"good copy"
    assert sorted(p.name for p in path.parent.iterdir()) == ["1.2.3.dcm"]


@pytest.mark.parametrize(
    "uid",
    ["../../etc/passwd", "/etc/passwd", "..", "", "1.2.3/../../4", "1.2.3\x00", "a" * 300, "1.2..3", ".1.2."],
)
def test_no_uid_can_leave_the_spool_directory(spool, uid):
    path = spool_write(data=b"x", sop_instance_uid=uid, when=WHEN)

    assert path.parent == spool / "2024" / "03" / "07"
    assert path.resolve().parent == (spool / "2024" / "03" / "07").resolve()
    assert set(path.name.removesuffix(".dcm")) <= set("0123456789.")
    assert not path.name.startswith(".")


def test_two_malformed_uids_that_clean_to_the_same_digits_get_different_files():
    assert spool_filename("1.2.3a") != spool_filename("1.2.3b")
    assert spool_filename("1.2.3a") != spool_filename("1.2.3")


def test_a_conforming_uid_is_its_own_file_name():
    assert spool_filename("1.2.840.10008.5.1.4.1.1.88.67") == "1.2.840.10008.5.1.4.1.1.88.67.dcm"


_TRACED = """
import datetime as dt, sys
from pathlib import Path
import django
from django.conf import settings
settings.configure(SPOOL_DIR=Path(sys.argv[1]))
from ingest.spool import spool_write
spool_write(data=b"payload", sop_instance_uid="1.2.3", when=dt.datetime(2024, 3, 7, tzinfo=dt.UTC))
"""


def test_it_syncs_the_file_before_the_rename_and_the_directory_after(tmp_path):
    # Traced system calls of a real write: the only way to see fsync happen.
    trace = tmp_path / "trace"
    subprocess.run(
        [
            "strace",
            "-f",
            "-qq",
            "-e",
            "trace=openat,fsync,rename,renameat,renameat2",
            "-o",
            str(trace),
            sys.executable,
            "-c",
            _TRACED,
            str(tmp_path / "spool"),
        ],
        check=True,
        cwd=os.getcwd(),
    )
    lines = [line for line in trace.read_text().splitlines() if "/spool/" in line or "fsync(" in line]
    tmp_open = next(i for i, line in enumerate(lines) if "openat(" in line and ".incoming-" in line)
    fd_file = lines[tmp_open].rsplit("=", 1)[1].strip()
    rename = next(i for i, line in enumerate(lines) if "rename" in line and "1.2.3.dcm" in line)
    dir_open = next(
        i for i, line in enumerate(lines) if i > rename and "openat(" in line and "O_DIRECTORY" in line
    )
    fd_dir = lines[dir_open].rsplit("=", 1)[1].strip()

    assert any(f"fsync({fd_file})" in line for line in lines[tmp_open:rename])
    assert any(f"fsync({fd_dir})" in line for line in lines[dir_open:])
