"""``qconform report``: merge run files into compatibility and hardware matrices (issue: reports)."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="merge run files into compatibility reports")
    p.add_argument("runs", nargs="+", metavar="RUN.json")


def run(args: argparse.Namespace) -> int:
    print("qconform report: not built yet", file=sys.stderr)
    return 2
