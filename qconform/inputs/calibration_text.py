"""Calibration text and a tiny tokenizer, both offline, for quantizers that calibrate inside ``from_pretrained``.

GPTQ quantizes during loading when its config carries a dataset of texts and a tokenizer
(``GPTQConfig(dataset=[...], tokenizer=...)``). qconform never fetches a corpus or a hub tokenizer: the
texts are short sentences shipped with the package (``data/calibration.txt``), and the tokenizer is a
word-level vocabulary trained on them with the ``tokenizers`` library, wrapped in transformers'
``PreTrainedTokenizerFast``. Its ids fit the tiny models' vocabulary (``tiny_models``), so a text
tokenized here is a valid input of every tiny architecture.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import torch

UNK, PAD = "[UNK]", "[PAD]"


@functools.cache
def calibration_texts() -> tuple[str, ...]:
    """The shipped sentences, in file order (comments and blank lines dropped)."""
    text = resources.files("qconform.inputs").joinpath("data/calibration.txt").read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


@functools.cache
def tiny_tokenizer(vocab_size: int = 256) -> Any:
    """A word-level tokenizer trained on ``calibration_texts``: deterministic (the vocabulary follows word
    frequency, ties broken by the trainer's order) and within ``vocab_size`` ids, or a ValueError saying why not.

    Cached: one object per process, treat it as read-only."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordLevel(unk_token=UNK))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=[UNK, PAD], min_frequency=1)
    tokenizer.train_from_iterator(calibration_texts(), trainer)
    size = tokenizer.get_vocab_size()
    words = {word for text in calibration_texts() for word in text.lower().split()}
    if size > vocab_size or len(words) + 2 > vocab_size:
        raise ValueError(f"the calibration text needs {len(words) + 2} token ids, the model has {vocab_size}")
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token=UNK, pad_token=PAD)


def token_ids(tokenizer: Any, texts: list[str] | tuple[str, ...]) -> list[torch.Tensor]:
    """Each text as a (1, length) id tensor, tokenized as optimum's GPTQ tokenizes a dataset of strings
    (``tokenizer(text, return_tensors="pt")``, one text per forward, no padding), so a twin fed these ids
    sees what the real calibration saw."""
    return [tokenizer(text, return_tensors="pt")["input_ids"] for text in texts]
