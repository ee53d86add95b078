"""Run records: the versioned schema, building records from pytest reports, and writing them."""
