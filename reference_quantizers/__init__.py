"""Readable pure-PyTorch twins of transformers' quantization methods, registered in its dispatch.

Importing this package registers every twin under the key ``ref-<dispatch key>`` (for example
``ref-bitsandbytes_4bit``) with ``register_quantization_config`` and ``register_quantizer``.
"""
