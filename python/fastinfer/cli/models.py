"""``fastinfer models``: the model zoo's models, their task, size, licence and whether they are cached."""

from __future__ import annotations

import argparse
import json

from .. import models


def _size(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def run(args: argparse.Namespace) -> int:
    """Prints the zoo as a table, or as one JSON list with ``--json``; ``--fetch NAME`` fetches a model first."""
    for name in args.fetch or ():
        files = models.fetch(name)
        if not args.json:
            print(f"fetched {files.name}: {files.model}")
    records = models.list_models()
    if args.json:
        print(json.dumps([record.to_dict() for record in records]))
        return 0
    header = ("NAME", "TASK", "SIZE", "LICENCE", "CACHED")
    rows = [(r.name, r.task, _size(r.size), r.licence, "yes" if r.cached else "no") for r in records]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header) - 1)]
    for row in (header, *rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
    return 0


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Adds the ``models`` subcommand to the command line's subparsers."""
    parser = commands.add_parser("models", help="list the model zoo: name, task, size, licence, cached or not")
    parser.add_argument("--json", action="store_true", help="print one JSON list of records (name, task, size in "
                        "bytes, licence, source, cached, path)")
    parser.add_argument("--fetch", action="append", metavar="NAME", help="fetch a zoo model into the cache first "
                        "(repeatable)")
    parser.set_defaults(run=run)
    return parser
