"""Every ``deepsdf bench`` subcommand runs end to end (tiny sizes) and prints its comparison."""
import re

from core.cli import main


def _run(capsys, *argv) -> str:
    assert main(["bench", *map(str, argv)]) == 0
    return capsys.readouterr().out


def test_bench_mesh_matches_the_dense_reference(capsys, tiny_experiment):
    out = _run(capsys, "mesh", "--model", tiny_experiment / "bundle.safetensors", "--res", 16, 32)
    rows = [ln.split() for ln in out.splitlines() if re.match(r"\s+(16|32)\s", ln)]
    assert len(rows) == 2
    for row in rows:
        assert float(row[3].rstrip("x")) >= 0 and float(row[5]) < 1e-4  # a ratio; Chamfer to the reference mesh


def test_bench_train_reports_throughput(capsys):
    out = _run(capsys, "train")
    assert re.search(r"[\d,]+ points/s = [\d.]+ GFLOP/s; fp32 matmul [\d.]+ GFLOP/s; ratio [\d.]+", out)


def test_bench_train_quality_per_seed_and_mean_resumes(capsys, tmp_path):
    args = ["train-quality", "--work", tmp_path, "--seeds", 0, 1, "--epochs", 12, "--shapes", 4,
            "--samples", 6000, "--res", 24]
    out = _run(capsys, *args)
    rows = {ln.split()[0]: ln.split()[1:] for ln in out.splitlines() if re.match(r"\s*(0|1|mean)\s", ln)}
    assert set(rows) == {"0", "1", "mean"}
    for loss, cd_mean, cd_median, s_start, s_end, ratio in rows.values():
        assert 0 < float(loss) < 0.1 and 0 < float(cd_median) <= float(cd_mean) * 10 and float(s_start) > 0
    assert (tmp_path / "train-quality" / "geometric_std1_seed1" / "bundle.safetensors").is_file()
    again = _run(capsys, *args)  # every step resumes: nothing is trained twice, the numbers repeat
    assert [ln for ln in again.splitlines() if ln.startswith("    0 ")] == [ln for ln in out.splitlines() if ln.startswith("    0 ")]


def test_bench_fit_on_given_data_and_clear_errors(capsys, tiny_experiment, tiny_data, tmp_path):
    bundle = tiny_experiment / "bundle.safetensors"
    out = _run(capsys, "fit", "--model", bundle, "--data", tiny_data, "--count", 1, "--res", 24)
    mean = [ln for ln in out.splitlines() if ln.strip().startswith("mean")][0].split()
    assert float(mean[3].rstrip("x")) > 1  # LM faster than Adam-800
    assert main(["bench", "fit", "--model", str(bundle), "--data", str(tmp_path / "nowhere")]) == 1
    assert "nowhere: no such folder" in capsys.readouterr().err


def test_recipe_heldout_remakes_the_default_models_test_chairs(tmp_path):
    """A fresh checkout has none of the default model's data: bench fit re-makes its held-out chairs."""
    from core.evaluation.bench import RECIPE_DATA, recipe_heldout
    from core.model.bundle import RESOURCES
    from core.data.samples import read_split
    from core.data.samples import read_sdf_npz

    data, split = recipe_heldout(tmp_path, 1)
    entries = read_split(split)
    first = read_split(RESOURCES / RECIPE_DATA["split"])[0][2]  # the recipe's first held-out shape
    assert [e[2] for e in entries] == [first]
    pos, neg = read_sdf_npz(data / "SdfSamples" / entries[0][0] / entries[0][1] / f"{first}.npz")
    assert len(pos) + len(neg) == 125_000  # the recipe's test shapes: half of 250,000


def test_bench_app_reports_the_interactive_budget(capsys, tiny_experiment, tiny_data, tmp_path):
    mesh = sorted((tiny_data.parent / "meshes" / "chairs").glob("*.ply"))[0]
    assert main(["render-depth", str(mesh), "--view", "30,20", "--res", "80x60", "-o", str(tmp_path / "s.png")]) == 0
    capsys.readouterr()
    out = _run(capsys, "app", "--model", tiny_experiment / "bundle.safetensors", "--scan", tmp_path / "s.png")
    assert re.search(r"slider preview 64\^3: \d+ ms .* -> [\d.]+x", out)
    assert re.search(r"completion fit \(LM\): [\d.]+ s, \d+ it, data error [\d.]+ .*Adam-800 [\d.]+ s, data error [\d.]+", out)


def test_bench_prepare_compares_robust_and_exact_signs(capsys):
    out = _run(capsys, "prepare", "--samples", 20_000)
    assert re.search(r"exact:\s+[\d.]+ s per mesh", out) and re.search(r"robust:\s+[\d.]+ s per mesh", out)
    assert float(re.search(r"robust / exact: ([\d.]+)x", out).group(1)) > 0
    soup = re.search(r"synthetic chair of sheets\s+[\d,]+ (\S+)\s+[\d.]+%\s+([\d.]+)%", out)
    assert soup.group(1) == "visibility" and float(soup.group(2)) >= 99.5, out


def test_bench_scenes_times_pose_free_against_posed(capsys, tiny_experiment, tiny_data):
    out = _run(capsys, "scenes", "--model", tiny_experiment / "bundle.safetensors", "--data", tiny_data, "--count", 1, "--res", 24)
    assert "found 1 of 1" in out, out  # the segmentation needs no model
    median = [ln for ln in out.splitlines() if ln.strip().startswith("median")][0].split()
    assert float(median[1]) > 0 and float(median[2]) > 0 and float(median[3].rstrip("x")) > 0
