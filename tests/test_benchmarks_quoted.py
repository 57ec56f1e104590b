"""The training-fast appendix quotes cgan_lib/benchmarks.json, the file bench/bench.py
writes: its CPU table is rebuilt here from the file and must appear in the page as
is."""

import json
import statistics
from pathlib import Path

from cgan_lib.recipes import BENCHMARKS

APPENDIX = Path(__file__).resolve().parents[1] / "book" / "training_fast.md"
COLUMNS = (
    ("cdcgan", "fast"),
    ("cdcgan_refine", "`refine=True`"),
    ("reference", "reference"),
)


def multiple(ratio: float) -> str:
    """×9.4, ×15, ×250: two significant figures at most, as the reference is ±5%."""
    return f"×{ratio:.1f}" if ratio < 10 else f"×{float(f'{ratio:.2g}'):.0f}"


def cpu_table(entry: dict) -> list[str]:
    """The appendix's CPU table, row by row, formatted from the benchmark entry."""
    models, ref = entry["models"], entry["fd_10k_reference"]

    def fd(model):
        return models[model]["fd_10k"]

    def seconds(model, target):
        s = models[model]["seconds_to_accuracy"][target]
        return f"{s:.0f} s" if s else "not reached"

    def row(label, cell):
        return f"| {label} | " + " | ".join(cell(m) for m, _ in COLUMNS) + " |"

    rows = [
        "| 2-core CPU, 5 minutes | " + " | ".join(n for _, n in COLUMNS) + " |",
        "| --- | " + " | ".join("---:" for _ in COLUMNS) + " |",
        row("images/s", lambda m: f"{models[m]['images_per_s']:,.0f}"),
    ]
    for target in ("0.9", "0.95", "0.97", "0.98"):
        label = f"{float(target):.0%} accuracy at"
        rows.append(row(label, lambda m, t=target: seconds(m, t)))
    rows += [
        row(
            "accuracy, 10,000 digits",
            lambda m: f"{models[m]['final_accuracy_10k']:.2%}",
        ),
        row(
            f"FD to the test set, 10,000 digits (× real, {ref:.3f})",
            lambda m: f"{fd(m):.2f} ({multiple(fd(m) / ref)})",
        ),
    ]
    return rows


def test_the_appendix_cpu_table_is_the_benchmark_files():
    entry = json.loads(BENCHMARKS.read_text())["cpu"]
    text = APPENDIX.read_text()
    for line in cpu_table(entry):
        assert line in text, f"the appendix does not have this row of the file: {line}"
    # real digits' FD, the yardstick, its spread, and the shipped cdcgan's on it
    assert f"{entry['fd_10k_reference']:.3f}" in text
    assert f"± {entry['fd_10k_reference_std']:.3f}" in text
    shipped = entry["card"]["fd_10k"]
    ratio = shipped / entry["fd_10k_reference"]
    assert f"{shipped:.2f} ({ratio:.1f}× real)" in text


def test_the_table_fails_when_a_number_differs():
    entry = json.loads(BENCHMARKS.read_text())["cpu"]
    entry["models"]["cdcgan"]["images_per_s"] += 1000
    text = APPENDIX.read_text()
    assert not all(line in text for line in cpu_table(entry))


LR_RUNS = Path(__file__).resolve().parents[1] / "bench" / "cpu_recipes_2026-11-23.jsonl"
LR_ROWS = (
    ("A_fast", "2e-4 (the DCGAN paper's)"),
    ("B_lr5", "5e-4, falling to 0 over steps 1,500-3,000"),
    ("C_lr10", "1e-3, falling to 0 over steps 1,500-3,000"),
)


def learning_rate_table(lines: list[dict]) -> list[str]:
    """The appendix's learning-rate table, from bench/steps_to_quality.py's lines."""
    at = {(d["name"], d["step"]): d for d in lines}
    rows = [
        "| learning rate | accuracy at step 600 | at step 900 "
        "| at step 3,000 (10,000 digits) | FD to the test set at step 3,000 |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, label in LR_ROWS:
        end = at[name, 3000]
        rows.append(
            f"| {label} | {at[name, 600]['acc']:.1%} | {at[name, 900]['acc']:.1%} "
            f"| {end['acc10k']:.2%} | {end['fd10k']:.2f} |"
        )
    return rows


def test_the_learning_rate_log_is_the_committed_runs():
    # the appendix's lesson reads these runs; their 3,000-step table is in bench/README
    lines = [json.loads(line) for line in LR_RUNS.read_text().splitlines()]
    text = (LR_RUNS.parent / "README.md").read_text()
    for line in learning_rate_table(lines):
        assert line in text, f"bench/README.md lacks this row of the runs: {line}"


def side_by_side(cpu: dict, cuda: dict) -> list[str]:
    """The appendix's CPU-against-H100 images/s rows, from both entries of the file."""
    rows = []
    # (the fast recipe is left out: the H100 ran an older one, without the clusters)
    a, b = (e["models"]["cdcgan_refine"]["images_per_s"] for e in (cpu, cuda))
    rows.append(f"| `refine=True`, images/s | {a:,.0f} | {b:,.0f} | ×{b / a:.1f} |")
    a, b = cpu["models"]["reference"], cuda["models"]["reference"]
    ratio = b["images_per_s"] / a["images_per_s"]
    rows.append(
        f"| reference, images/s | {a['images_per_s']:,.0f} "
        f"| {b['images_per_s']:,.0f} | ×{ratio:.1f} |"
    )
    return rows


def test_the_appendix_cpu_against_gpu_rows_are_the_files():
    entries = json.loads(BENCHMARKS.read_text())
    text = APPENDIX.read_text()
    for line in side_by_side(entries["cpu"], entries["cuda"]):
        assert line in text, f"the appendix does not have this row of the file: {line}"


def paired_seed_runs(entry: dict, k: int) -> dict[int, list[dict]]:
    """A seed-runs file's runs by cluster count, checked: all at the file's step count,
    and the runs without clusters and with `k` from the same seeds, at least 3."""
    by_k = {}
    for run in entry["runs"]:
        assert run["step"] == entry["steps"]
        by_k.setdefault(run["clusters"], []).append(run)
    assert {0, k} <= set(by_k)
    seeds = [sorted(r["seed"] for r in by_k[key]) for key in (0, k)]
    assert seeds[0] == seeds[1] and len(seeds[0]) >= 3  # paired, at least 3 seeds
    return by_k


def gain_and_spread(by_k: dict, k: int, metric: str, better: int) -> tuple:
    """How much `k` clusters improved the mean of `metric` (better: +1 higher, -1
    lower), and the larger of the two seed-to-seed standard deviations."""
    values = {key: [r[metric] for r in by_k[key]] for key in (0, k)}
    gain = better * (statistics.fmean(values[k]) - statistics.fmean(values[0]))
    return gain, max(statistics.stdev(v) for v in values.values())


def test_the_fast_recipes_clusters_are_backed_by_the_seed_runs():
    # chapter 8 and the appendix say the fast recipe conditions on clusters because,
    # over seeds, they lowered its distance to the test set by more than twice the
    # spread between seeds: the committed runs must say so
    from cgan_lib.recipes import FAST

    entry = json.loads((BENCHMARKS.parent / "fast_clusters.json").read_text())
    k = FAST["cdcgan"]["model_kwargs"]["clusters"]
    for run in entry["runs"]:
        assert {"seed", "clusters", "fd_10k", "one_draw_fd", "accuracy_10k"} <= set(run)
    by_k = paired_seed_runs(entry, k)
    gain, spread = gain_and_spread(by_k, k, "fd_10k", -1)
    assert gain > 2 * spread
    # and the clusters did not cost accuracy
    gain, _ = gain_and_spread(by_k, k, "accuracy_10k", 1)
    assert gain >= -0.005


def test_every_entry_of_the_benchmark_file_is_a_device():
    # chapters 8 and 12 and recipes.reason() read each top-level entry as one device's
    # results (a run of other experiments went in there once and broke both chapters)
    import torch

    for device, entry in json.loads(BENCHMARKS.read_text()).items():
        torch.device(device)  # raises for a name that is not a device type
        assert {"machine", "date", "command", "models"} <= set(entry), device
        for name, result in entry["models"].items():
            assert {"images_per_s", "seconds_to_accuracy"} <= set(result), name


def test_chapter_5s_clusters_are_backed_by_same_recipe_seed_runs():
    # chapter 5 says what the clusters alone do from this file, not from the two cards
    # (whose recipes differ in more than the clusters)
    from cgan_lib import model_card

    entry = json.loads((BENCHMARKS.parent / "dcgan_clusters_seeds.json").read_text())
    card = model_card("dcgan_clusters")
    k = card["config"]["model_kwargs"]["clusters"]
    # the same recipe as the shipped model, flag by flag, but for the clusters
    recipe = entry["recipe"].removesuffix(" --clusters K").split(" --")
    assert all(f"--{flag.lstrip('-')} " in card["command"] for flag in recipe)
    for run in entry["runs"]:
        assert f"--clusters {run['clusters']} " in run["command"]
        assert f"--seed {run['seed']} " in run["command"]
    assert 0 < entry["fd_10k_reference"] < 1  # the book's yardstick, with its scale
    by_k = paired_seed_runs(entry, k)
    assert set(by_k) == {0, k}
    # chapter 5's sentence: each moved beyond twice the larger spread, in this direction
    for metric, better in (
        ("fd_10k", -1),
        ("precision", 1),
        ("recall", -1),
        ("farthest_from_tenth", -1),
    ):
        gain, spread = gain_and_spread(by_k, k, metric, better)
        assert gain > 2 * spread, metric


def test_the_learning_rate_lesson_beats_the_noise_rule():
    # the appendix reads its one-seed learning-rate runs against the seed-to-seed spread
    # of chapter 9's benchmark (the same architecture at 2e-4, 500 steps): the gap at
    # step 600 must be more than twice that spread, and the numbers must be the files'
    from cgan_lib.toolbox import load_results

    lines = [json.loads(line) for line in LR_RUNS.read_text().splitlines()]
    acc = {(d["name"], d["step"]): d.get("acc") for d in lines}
    runs = load_results()["recipes"]["non-saturating"]["runs"]
    sd = statistics.stdev(r["accuracy"] for r in runs)
    gap = acc["C_lr10", 600] - acc["A_fast", 600]
    text = APPENDIX.read_text()
    assert gap > 2 * sd
    assert f"standard deviation of {100 * sd:.1f} points" in text
    assert f"{100 * gap:.0f} points" in text
    assert f"| 1e-3 | {acc['C_lr10', 300]:.1%} | {acc['C_lr10', 600]:.1%} |" in text
    assert f"| 2e-4 | {acc['A_fast', 300]:.1%} | {acc['A_fast', 600]:.1%} |" in text
    assert f"| 5e-4 | {acc['B_lr5', 300]:.1%} | {acc['B_lr5', 600]:.1%} |" in text
    # "2e-4 needs between 1,800 and 2,400 steps to pass" 1e-3's step-600 accuracy
    assert acc["A_fast", 1800] < acc["C_lr10", 600] < acc["A_fast", 2400]
    # "at step 900 the gap between 1e-3 and 2e-4 is past it too, while 5e-4 and 1e-3
    # are within it from step 600 on"
    assert acc["C_lr10", 900] - acc["A_fast", 900] > 2 * sd
    for step in (600, 900):
        assert abs(acc["C_lr10", step] - acc["B_lr5", step]) < 2 * sd


def test_the_appendix_quotes_the_clusters_seed_runs():
    from cgan_lib.recipes import FAST

    entry = json.loads((BENCHMARKS.parent / "fast_clusters.json").read_text())
    ref = json.loads(BENCHMARKS.read_text())["cpu"]["fd_10k_reference"]
    by_k = paired_seed_runs(entry, FAST["cdcgan"]["model_kwargs"]["clusters"])
    text = APPENDIX.read_text()
    for runs in by_k.values():
        fds = [r["fd_10k"] for r in runs]
        mean, sd = statistics.fmean(fds), statistics.stdev(fds)
        assert f"{mean:.2f} ± {sd:.2f} ({multiple(mean / ref)}" in text


def test_the_refine_column_trails_by_more_than_the_seed_spread():
    # the appendix reads its one-run refine=True column as behind the fast recipe
    # because the FD gap beats twice the fast recipe's seed-to-seed SD
    from cgan_lib.recipes import FAST

    models = json.loads(BENCHMARKS.read_text())["cpu"]["models"]
    gap = models["cdcgan_refine"]["fd_10k"] - models["cdcgan"]["fd_10k"]
    accuracy_gap = (
        models["cdcgan"]["final_accuracy_10k"]
        - models["cdcgan_refine"]["final_accuracy_10k"]
    )
    entry = json.loads((BENCHMARKS.parent / "fast_clusters.json").read_text())
    by_k = paired_seed_runs(entry, FAST["cdcgan"]["model_kwargs"]["clusters"])
    sd = max(statistics.stdev(r["fd_10k"] for r in runs) for runs in by_k.values())
    assert gap > 2 * sd and accuracy_gap > 0
    text = " ".join(APPENDIX.read_text().split())
    fds = (models[m]["fd_10k"] for m in ("cdcgan_refine", "cdcgan"))
    assert (
        "its FD, {:.2f} against {:.2f}, trails by more than twice".format(*fds) in text
    )
    assert f"seed-to-seed SD in lesson 2 ({sd:.2f})" in text


def test_the_gpu_ratio_range_allows_for_the_cpus_slower_day():
    # the appendix's "9 to 15 times": the H100 against the CPU of the 5-minute table,
    # and against the CPU as fast as it ran on the H100's day (bench/README.md's two
    # same-command pairs: the fast column 1,645 against 1,070, the reference 306/180)
    entries = json.loads(BENCHMARKS.read_text())
    model = "cdcgan_refine"
    ratio = (
        entries["cuda"]["models"][model]["images_per_s"]
        / entries["cpu"]["models"][model]["images_per_s"]
    )
    readme = " ".join((APPENDIX.parents[1] / "bench" / "README.md").read_text().split())
    assert "1,645 images/s against 1,070 the day before" in readme
    assert "(306 images/s against 180)" in readme
    slower = sorted((1645 / 1070, 306 / 180))
    text = " ".join(APPENDIX.read_text().split())
    assert f"ran {slower[0]:.1f} to {slower[1]:.1f} times slower" in text
    assert round(ratio) == 9 and round(ratio * statistics.fmean(slower) / 5) * 5 == 15
    assert "about 9 to 15 times as fast" in text and "make it about 15)" in text
