"""Script bodies for the checks that load a tiny model (lifecycle): text, no logic."""

from __future__ import annotations

SAVE_RELOAD = """
def check() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        model = load(full_precision_checkpoint(tmp), quantization_config())
        before, problems = forward(model)  # a forward first, as in real use
        if problems:
            return problems
        model.save_pretrained(f"{tmp}/quantized")
        again = AutoModelForCausalLM.from_pretrained(f"{tmp}/quantized", device_map={"": DEVICE}).eval()
        after, problems = forward(again)
        if problems:
            return [f"reloaded: {line}" for line in problems]
    difference = bit_difference(before, after)
    print(f"  logits before save_pretrained and after from_pretrained: {difference or 'bit-identical'}")
    return [f"the reloaded {ARCH} model gives different logits: {difference}"] if difference else []
"""

FORWARD_DETERMINISTIC = """
def check() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        model = load(full_precision_checkpoint(tmp), quantization_config())
    first, problems = forward(model)
    if problems:
        return problems
    vocab = model.config.vocab_size
    if first.shape[-1] != vocab:
        return [f"logits have {first.shape[-1]} columns for a vocabulary of {vocab}"]
    if DETERMINISTIC:
        difference = bit_difference(first, logits(model))
        print(f"  a second forward: {difference or 'bit-identical'}")
        if difference:
            return [f"a second forward on the same input gave different logits: {difference}"]
    return []
"""

IS_SERIALIZABLE = """
def check() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        model = load(full_precision_checkpoint(tmp), quantization_config())
    said = bool(model.hf_quantizer.is_serializable())
    print(f"  is_serializable() returns {said}; declared serializable={DECLARED_SERIALIZABLE}")
    if said != DECLARED_SERIALIZABLE:
        return [f"is_serializable() returns {said}, declared {DECLARED_SERIALIZABLE}"]
    return []
"""

OUTPUT_EMBEDDING = """
def check() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        model = load(full_precision_checkpoint(tmp), quantization_config())
    state = state_of(model, HEAD)
    print(f"  {HEAD}: {state} ({type(model.get_submodule(HEAD)).__name__})")
    problems = [] if state == FULL else [f"the output embedding {HEAD!r} is {state}, not full precision"]
    if model.config.tie_word_embeddings:
        out_w, in_w = model.get_output_embeddings().weight, model.get_input_embeddings().weight
        if not (out_w is in_w or out_w.data_ptr() == in_w.data_ptr()):
            problems.append("the tied output embedding was untied")
    return problems
"""

KEEP_IN_FP32 = """
def check() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        model = load(full_precision_checkpoint(tmp), quantization_config(), torch.float16, keep_in_fp32=KEEP)
    upcast = model.get_input_embeddings().weight.dtype == torch.float16  # unless update_dtype chose another
    wrong = []
    for name in KEPT:
        state = state_of(model, name)
        print(f"  {name}: {state}, {getattr(model.get_submodule(name), 'weight', None).__class__.__name__}")
        if state != FULL:
            wrong.append(f"{name}: {state}")
        elif upcast and model.get_submodule(name).weight.dtype != torch.float32:
            wrong.append(f"{name}: dtype {model.get_submodule(name).weight.dtype}, expected torch.float32")
    return [f"_keep_in_fp32_modules={list(KEEP)} not honoured: {line}" for line in wrong]
"""

SKIP_LIST = """
def contract(path: str, reference, skip: list, expected_full: list) -> list[str]:
    model = load(path, quantization_config(**{SKIP_FIELD: skip}))
    either = set() if HEAD in expected_full else {HEAD}  # an unlisted output embedding may go either way
    wrong = []
    for name in LINEARS:
        if name in either:
            continue
        want = FULL if name in expected_full else QUANTIZED
        state = state_of(model, name)
        if state != want:
            wrong.append(f"{name}: {state}, expected {want}")
    if wrong:
        return [f"the wrong modules were quantized: {', '.join(wrong)}"]
    out, problems = forward(model)
    if problems:
        return problems
    drift = rel_frobenius(reference, out)
    return [] if drift <= DRIFT_BOUND else [f"logits drift {drift:.3g} from full precision, bound {DRIFT_BOUND}"]


def check() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = full_precision_checkpoint(tmp)
        reference = logits(load(path, None))
        cases = [(f"{SKIP_FIELD}={skip!r}", (path, reference, skip, full)) for skip, full in SKIP_CASES]
        return run_cases(cases, contract)
"""

DEQUANTIZE = """
def check() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        model = load(full_precision_checkpoint(tmp), quantization_config())
    quantized, problems = forward(model)
    if problems:
        return problems
    model.dequantize()
    left = [f"{name}: {state}" for name in LINEARS if (state := state_of(model, name)) != FULL]
    if left:
        return [f"dequantize() left modules that are not plain full-precision Linear: {', '.join(left)}"]
    if getattr(model, "is_quantized", False):
        return ["model.is_quantized is still True after dequantize()"]
    plain, problems = forward(model)
    if problems:
        return [f"dequantized: {line}" for line in problems]
    gap = rel_frobenius(quantized, plain)
    bound = 2 * FORWARD_REL_ERROR if FORWARD_REL_ERROR is not None else max(16 * torch.finfo(model.dtype).eps, 1e-5)
    print(f"  dequantized logits differ from quantized ones by {gap:.3g} (relative), bound {bound:.3g}")
    return [] if gap <= bound else [f"dequantized logits differ by {gap:.3g} (relative), bound {bound:.3g}"]
"""

BACKWARD = """
def check() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        model = load(full_precision_checkpoint(tmp), quantization_config())
    if not model.hf_quantizer.is_trainable:
        return ["the method is declared trainable but hf_quantizer.is_trainable is False"]
    model.train()
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad and p.dtype in FLOATS}
    if not trainable:
        return ["the quantized model has no trainable floating-point parameter"]
    embedded = {}

    def keep_output(module, args, output):
        if output.requires_grad:
            output.retain_grad()
        embedded["output"] = output

    handle = model.get_input_embeddings().register_forward_hook(keep_output)
    try:
        ids = input_ids().to(model.device)
        loss = model(ids, labels=ids).loss
    finally:
        handle.remove()
    if not bool(torch.isfinite(loss)):
        return [f"the loss is not finite: {loss.item()}"]
    loss.backward()
    bad = [n for n, p in trainable.items() if p.grad is not None and not bool(torch.isfinite(p.grad).all())]
    if bad:
        return [f"non-finite gradients: {', '.join(bad)}"]
    grad = embedded["output"].grad
    if grad is None or not bool(torch.isfinite(grad).all()) or not bool(grad.abs().sum() > 0):
        return ["no finite, non-zero gradient crossed the quantized layers back to the input embedding"]
    print(f"  loss {loss.item():.4g}, {len(trainable)} trainable parameters with finite gradients")
    return []
"""
