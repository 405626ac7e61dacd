"""benchmarks/pretrain.py on a few windows: its figures are consistent with each other (not with any speed)."""
import pytest


def test_the_pretrain_benchmark_reports_tokens_and_gflops_against_its_own_peak(capsys, monkeypatch):
    from benchmarks.models import flops_per_window
    from benchmarks.pretrain import main, run
    from jukebox.encodings.fixed import fixed_vocabulary
    from jukebox.model import ModelConfig
    from tests.conftest import ROOT

    monkeypatch.chdir(ROOT)
    result = run("cpu", "single", windows=16, peak_size=128)
    assert result["shape"] == {"layers": 2, "units": 128, "heads": 2} and result["replicas"] == 1
    assert result["tokens_per_second"] == pytest.approx(result["windows_per_second"] * result["seq_len"])
    config = ModelConfig(architecture="transformer", seq_len=result["seq_len"], layers=2, units=128, heads=2,
                         token_conv=8)
    vocabulary = len(fixed_vocabulary("rhythm"))  # the base's: rhythm's fixed vocabulary, instruments included
    assert result["gflops"] == pytest.approx(flops_per_window(config, vocabulary) * result["windows_per_second"] / 1e9)
    assert result["share_of_float32_peak"] == pytest.approx(result["gflops"] / result["peak_gflops"]["float32"])
    main(["--windows", "16", "--peak-size", "128"])
    assert "tokens/s" in capsys.readouterr().out
