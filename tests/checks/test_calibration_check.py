"""The calibration checks (qconform/checks/test_calibration.py): their offline inputs, and their catches.

The planted calibration bugs (tests/planted/bugs/calibration_*.py) run here on their own, with the correct text GPTQ
beside them, so that the checks are shown to fail on each fault and to pass the correct quantizer without the
whole catalogue's run.
"""

from __future__ import annotations

import pytest

from qconform.inputs.calibration_text import PAD, UNK, calibration_texts, tiny_tokenizer, token_ids
from qconform.inputs.tiny_models import ARCHITECTURES, tiny_config
from tests.planted.bugs import calibration_does_nothing, calibration_scales_off, calibration_skips_layer
from tests.planted.bugs._calibration import CONTROL
from tests.planted.judge import verdict

BUG_MODULES = (calibration_skips_layer, calibration_scales_off, calibration_does_nothing)
CHECKS = ("test_calibration_quantizes_while_loading", "test_calibration_matches_twin")


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_calibration_text_fits_the_tiny_vocabulary(arch):
    """Every word of the shipped text has its own id below the tiny model's vocabulary size: no text is
    calibrated as unknown tokens, and every id is a valid input."""
    vocab = tiny_config(arch).vocab_size
    tokenizer = tiny_tokenizer(vocab)
    ids = token_ids(tokenizer, calibration_texts())
    assert len(ids) == len(calibration_texts()) >= 16
    flat = [i for row in ids for i in row[0].tolist()]
    assert max(flat) < vocab
    assert tokenizer.convert_tokens_to_ids(UNK) not in flat
    assert tokenizer.convert_tokens_to_ids(PAD) not in flat
    words = [w for text in calibration_texts() for w in text.split()]
    assert len(flat) == len(words)  # one token a word, none dropped


def test_tiny_tokenizer_is_deterministic():
    """Two tokenizers trained afresh give the same ids: the twin and the real path must see the same tokens."""
    first, second = tiny_tokenizer.__wrapped__(256), tiny_tokenizer.__wrapped__(256)
    assert first.get_vocab() == second.get_vocab()
    texts = calibration_texts()
    assert [t.tolist() for t in token_ids(first, texts)] == [t.tolist() for t in token_ids(second, texts)]


def test_tiny_tokenizer_refuses_a_vocabulary_too_small():
    with pytest.raises(ValueError, match="token ids"):
        tiny_tokenizer.__wrapped__(64)


def test_calibration_checks_catch_planted_bugs(run_qconform):
    """Each planted calibration bug fails the checks it names, with its message; the correct text GPTQ passes both
    checks on both architectures."""
    keys = sorted([CONTROL, *(m.KEY for m in BUG_MODULES)])
    run = run_qconform(
        "-q",
        "-k",
        " or ".join(CHECKS),
        f"--quantizer={','.join(keys)}",
        *(f"--qconform-plugin={m.__name__}" for m in BUG_MODULES),
        env={"OMP_NUM_THREADS": "1"},  # tiny matmuls: one thread is faster than two that contend
    )
    records = run.records()
    for module in BUG_MODULES:
        bug = module.PLANTED
        for check in bug.catches:
            found = verdict(records, bug.key, check, bug.message)
            assert found.caught, f"{bug.key} / {check}: {found}"
    control = [r for r in records if r["target"] == CONTROL]
    assert sorted({r["check"] for r in control}) == sorted(CHECKS), run.output[-3000:]
    assert all(r["outcome"] == "passed" for r in control), [(r["nodeid"], r["message"]) for r in control]
    twin_figures = [r["measured"] for r in control if r["check"] == "test_calibration_matches_twin"]
    assert all(f["worst_error_ratio"] <= 1.05 for f in twin_figures), twin_figures
