"""PNG plots of measured figures: one per key, valid images, safe names, same runs give the same bytes."""

from __future__ import annotations

import pytest

from qconform.cli import main
from tests.report.conftest import H100, malicious_doc, record, run_doc, write

matplotlib = pytest.importorskip("matplotlib", reason="matplotlib is the [report] extra")
from matplotlib.image import imread  # noqa: E402


def _runs(tmp_path):
    cpu = run_doc(
        [
            record(t, f"test_{i}", family="numerics", measured={"rel_error": v, "max_abs_error": 10 * v, "ok": True})
            for t in ("alpha", "beta")
            for i, v in enumerate((0.01, 0.02, 0.5))
        ]
    )
    gpu = run_doc([record("alpha", "test_0", family="numerics", measured={"rel_error": "nan"})], H100)
    return [str(write(tmp_path / "cpu.json", cpu)), str(write(tmp_path / "gpu.json", gpu))]


def test_one_plot_per_measured_key_and_valid_pngs(tmp_path):
    out = tmp_path / "out"
    assert main(["report", *_runs(tmp_path), "--out", str(out)]) == 0
    plots = sorted(p.name for p in (out / "plots").iterdir())
    assert plots == ["measured-max_abs_error.png", "measured-rel_error.png"]  # booleans are not figures
    image = imread(out / "plots" / "measured-rel_error.png")
    height, width = image.shape[:2]
    assert width >= 600 and height >= 400
    assert image[..., :3].std() > 0.05  # something is drawn, not a blank canvas


def test_same_runs_give_the_same_bytes_and_stale_plots_go(tmp_path):
    runs = _runs(tmp_path)
    first, second = tmp_path / "a", tmp_path / "b"
    assert main(["report", *runs, "--out", str(first)]) == 0
    (second / "plots").mkdir(parents=True)
    (second / "plots" / "measured-gone.png").write_bytes(b"old")
    (second / "plots" / "keep-me.txt").write_text("not ours")
    assert main(["report", *runs, "--out", str(second)]) == 0
    for name in ("report.md", "report.html", "report.json", "plots/measured-rel_error.png"):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    assert not (second / "plots" / "measured-gone.png").exists()
    assert (second / "plots" / "keep-me.txt").exists()


def test_measured_keys_from_a_run_cannot_choose_paths(tmp_path):
    out = tmp_path / "out"
    assert main(["report", str(write(tmp_path / "evil.json", malicious_doc())), "--out", str(out)]) == 0
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png")}
    assert all(name.startswith("out/plots/measured-") for name in written), written
    assert len(written) == 2
    assert all("/" not in name.removeprefix("out/plots/") and "<" not in name for name in written)
