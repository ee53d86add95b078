"""The conformance suite. One module per area of the contract; the plugin collects them.

Each check is a plain test function over ``target`` (and ``device`` where it matters); markers say
which spec capabilities it needs (``qconform_requires``) and whether it needs the backend installed
(``qconform_backend``).
"""
