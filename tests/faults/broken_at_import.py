"""A plugin module that fails to import, as a quantizer package with a broken dependency would."""

import qconform_dependency_that_does_not_exist  # noqa: F401
