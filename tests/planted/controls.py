"""The correct controls' specs, as one plugin module that every catalogue run loads, whichever bugs it runs
(a GPU machine runs only the bugs that need one, and their controls must still be described)."""

from __future__ import annotations

from tests.planted import bases_contract, bases_quantizers

SPECS = (*bases_quantizers.CONTROL_SPECS, *bases_contract.CONTROL_SPECS)
