"""Reading --transformers and --backend, checking releases against what the index serves."""

from __future__ import annotations

import pytest

from qconform.releases.index import parse_pip_index
from qconform.releases.plan import Environment, PlanError, parse_backend, parse_versions, plan, resolve

SERVED = ["5.25.0", "5.24.0", "5.23.0", "5.20.0", "5.17.0", "5.0.0", "4.57.6", "5.26.0rc1"]


def test_versions_are_read_trimmed_and_deduplicated():
    assert parse_versions(" 5.17.0, 5.25.0,5.17.0 , latest") == ["5.17.0", "5.25.0", "newest"]


@pytest.mark.parametrize(
    ("text", "says"),
    [("5.x", "'5.x' is not a version"), ("", "no version given"), ("5.17.0,,5.25.0", "an empty item")],
)
def test_unreadable_versions_say_which_part(text, says):
    with pytest.raises(PlanError, match=says):
        parse_versions(text)


def test_backend_names_one_distribution_and_its_versions():
    assert parse_backend("Optimum_Quanto=0.2.6,0.2.7") == ("optimum-quanto", ["0.2.6", "0.2.7"])
    for bad in ("bitsandbytes", "=0.48.0", "bitsandbytes=", "transformers=5.17.0", "bits and bytes=1"):
        with pytest.raises(PlanError):
            parse_backend(bad)


def test_a_release_the_index_does_not_serve_is_named_with_its_neighbours():
    resolved = dict(resolve(["5.17.0", "5.21.0", "5.99.0"], SERVED, "transformers"))
    assert resolved["5.17.0"] is None
    assert resolved["5.21.0"] == (
        "transformers 5.21.0 is not served by the package index (nearest served: 5.20.0, 5.23.0; newest: 5.25.0)"
    )
    assert "nearest served: 5.25.0" in resolved["5.99.0"]


def test_newest_is_the_newest_final_release_served():
    assert resolve(["newest", "5.25.0"], SERVED, "transformers") == [("5.25.0", None)]
    with pytest.raises(PlanError, match="needs the package index"):
        resolve(["newest"], None, "transformers")
    assert resolve(["5.99.0"], None, "transformers") == [("5.99.0", None)]  # taken on trust


def test_plan_is_the_cross_product_ordered_by_release():
    environments = plan(
        [("5.25.0", None), ("5.17.0", None), ("5.9.0", "not served")],
        ("bitsandbytes", [("0.50.2", None), ("0.48.0", None)]),
    )
    assert [e.label for e in environments] == [
        "transformers 5.9.0 · bitsandbytes 0.48.0",
        "transformers 5.9.0 · bitsandbytes 0.50.2",
        "transformers 5.17.0 · bitsandbytes 0.48.0",
        "transformers 5.17.0 · bitsandbytes 0.50.2",
        "transformers 5.25.0 · bitsandbytes 0.48.0",
        "transformers 5.25.0 · bitsandbytes 0.50.2",
    ]
    assert [e.unknown for e in environments[:2]] == [("not served",), ("not served",)]
    assert environments[2].slug == "transformers-5.17.0--bitsandbytes-0.48.0"
    assert plan([("5.17.0", None)]) == [Environment((("transformers", "5.17.0"),))]


def test_pip_index_output_is_parsed():
    output = "transformers (5.25.0)\nAvailable versions: 5.25.0, 5.24.0, 4.57.6\n  INSTALLED: 5.25.0\n"
    assert parse_pip_index(output) == ["5.25.0", "5.24.0", "4.57.6"]
    assert parse_pip_index("ERROR: No matching distribution found for nothing-here") is None
