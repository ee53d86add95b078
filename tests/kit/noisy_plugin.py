"""A plugin module that prints when imported, as some backends do (tests/kit/test_plugin.py)."""

import os
import sys

print("PLANTED IMPORT BANNER on stdout")
os.write(2, b"PLANTED IMPORT BANNER on file descriptor 2\n")
sys.stderr.write("PLANTED IMPORT BANNER on stderr\n")
