"""`python -m rdsr FILE...`: one JSON record per line per file (RECORD.md).

Directories are walked recursively. A bitmap dose screen is read by OCR
(tesseract) with every template, the best reading kept. A file that cannot be read prints
{"source": {"path": ...}, "error": "..."} and the run goes on; the exit code is 1
when any file failed, else 0. Needs no database and no Django settings.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

from rdsr.parse import UnreadableObject, parse_file
from rdsr.record import DoseRecord


def _record(path: Path) -> DoseRecord:
    record = parse_file(path)
    if record.source.ocr_pending:
        import pydicom

        from rdsr.ocr.read import read_dose_screen

        record = read_dose_screen(pydicom.dcmread(path, force=True), path=str(path))
    return record


def _files(arguments: list[str]) -> Iterator[Path]:
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        else:
            yield path


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if not arguments or arguments[0] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 0 if arguments else 2
    failed = False
    out = sys.stdout
    for path in _files(arguments):
        try:
            line = _record(path).to_dict()
        except UnreadableObject as exc:
            failed = True
            line = {"source": {"path": str(path)}, "error": str(exc)}
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the batch
            failed = True
            line = {"source": {"path": str(path)}, "error": f"internal error: {type(exc).__name__}: {exc}"}
        out.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
