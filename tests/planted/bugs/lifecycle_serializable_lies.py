"""is_serializable() says True for a method that cannot be saved: save_pretrained writes without a word."""

from __future__ import annotations

from qconform.specs.model import Capabilities
from tests.planted import PlantedBug
from tests.planted.bases_quantizers import CONTROL_UNSERIALIZABLE, ControlQuantizer, planted, spec

KEY = "planted-lifecycle-serializable-lies"


class ClaimsSerializable(ControlQuantizer):
    def is_serializable(self, *args, **kwargs):
        return True  # the bug: the method's spec says its checkpoints cannot be saved


SPECS = (
    spec(
        KEY,
        planted(KEY, ClaimsSerializable),
        __name__,
        "ClaimsSerializable",
        capabilities=Capabilities(serializable=False, dequantizable=True, deterministic=True),
    ),
)
PLANTED = PlantedBug(
    key=KEY,
    catches=("test_save_refused_when_not_serializable", "test_is_serializable_agrees_with_spec"),
    description="not serializable, saves anyway",
    control=CONTROL_UNSERIALIZABLE,
    message=(
        r"not serializable, yet save_pretrained wrote a checkpoint|"
        r"is_serializable\(\) returns True, the spec declares serializable=False"
    ),
    bare=False,
    bare_reason="its checkpoints save and reload fine: only the spec's serializable=False makes "
    "is_serializable() a lie",
)
