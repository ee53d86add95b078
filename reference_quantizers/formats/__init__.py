"""The quantization formats as pure functions of tensors: quantize, dequantize, pack, unpack.

No modules, no state, no transformers: each function says in its docstring which published format it
reproduces, so it can be read beside that format's description.
"""
