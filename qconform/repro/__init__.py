"""``qconform repro``: a record of a run (a failure or a declared known deviation) written out as a standalone
script that imports only torch, transformers, safetensors and the backend, and exits 1 while the deviation
holds, 0 once it is fixed, 2 where the environment cannot run it: something to attach to an upstream issue.

``literals`` writes Python values as source, ``inputs`` gathers what a check fed the quantizer (as literals),
``templates`` holds one script body per check kind (data), ``generate`` assembles a script, ``command`` is the CLI.
"""
