"""Tests of the helpers behind the contract checks (hiding packages, probes, strategies, footprints)."""
