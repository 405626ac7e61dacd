"""benchmarks/scoring_batch.py on the shipped base's shape, with a few windows."""
from benchmarks import scoring_batch
from tests.conftest import ROOT


def test_the_scoring_benchmark_times_every_batch_size_and_compares_the_probabilities(capsys):
    result = scoring_batch.main(["--project", str(ROOT), "--windows", "16", "--batches", "4", "8", "--repeats", "1"])
    for kind in ("validation", "predict"):
        assert set(result["seconds"][kind]) == {4, 8} and all(s > 0 for s in result["seconds"][kind].values())
    assert result["largest_difference"] < 1e-5, "a batch's size must not change a window's probabilities"
    out = capsys.readouterr().out
    assert "16 windows of 200 tokens" in out and out.count("1.00") >= 2  # the first size is its own ratio
