"""The twins' specs, contributed to qconform through the ``qconform.specs`` entry point.

Loading this module imports ``reference_quantizers``, which registers the twins in transformers'
dispatch, exactly as a third-party quantizer package would.
"""

from __future__ import annotations

import reference_quantizers  # noqa: F401  (registers the twins)

SPECS = ()
