"""Parse speed: milliseconds per object for each corpus file, and overall.

    .venv/bin/python bench/parse.py [--repeat N] [DIR]

Bytes are read into memory first, so the figure is `parse_bytes` alone (decode +
tree walk + record), the work an ingest worker does per object. No database.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rdsr.parse import UnreadableObject, parse_bytes  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", default=str(ROOT.parent / "shared" / "corpus" / "dicom"))
    parser.add_argument("--repeat", type=int, default=50, help="parses per file (median is reported)")
    args = parser.parse_args()

    files = sorted(Path(args.directory).glob("*.dcm"))
    blobs = {f.name: f.read_bytes() for f in files}
    print(f"{'file':45} {'kind':14} {'events':>6} {'kB':>6} {'ms median':>10} {'ms min':>8}")
    kinds: dict[str, list[float]] = {}
    total_time = 0.0
    total_parses = 0
    for name, data in blobs.items():
        timings = []
        record = None
        for _ in range(args.repeat):
            start = time.perf_counter()
            try:
                record = parse_bytes(data, path=name)
            except UnreadableObject:
                record = None
            timings.append(time.perf_counter() - start)
        total_time += sum(timings)
        total_parses += len(timings)
        median_ms = statistics.median(timings) * 1000
        kind = record.source.kind if record else "unreadable"
        label = f"{kind}/{record.study.modality}" if record and record.study.modality else kind
        kinds.setdefault(label, []).append(median_ms)
        events = len(record.events) if record else 0
        print(f"{name:45} {label:14} {events:6d} {len(data) / 1024:6.1f} {median_ms:10.2f} {min(timings) * 1000:8.2f}")
    print()
    for label, values in sorted(kinds.items()):
        print(f"{label:14} {len(values):3d} files, median {statistics.median(values):6.2f} ms per object")
    overall_ms = total_time / total_parses * 1000
    print(f"overall: {total_parses} parses, {overall_ms:.2f} ms per object, {1000 / overall_ms:.0f} objects/s "
          "on one core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
