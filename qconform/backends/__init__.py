"""Codecs of the real backends: each calls the backend's own quantize and dequantize functions.

One module per backend family; modules import their backend inside functions, so that naming a codec
in a spec never imports a backend.
"""
