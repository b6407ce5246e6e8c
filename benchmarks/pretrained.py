"""Issue 23's ablation: ImageNet-pretrained EfficientNet-Lite students and teachers against the
from-scratch recipe, on the shipped lesion-disjoint split, 3 seeds per arm. A queue of training
runs, several side by side (one thread each), resumable: rerun the same command after a kill;
finished runs (metrics.json present) are skipped, unfinished ones resume from their last epoch.
Each finished run's small results (config, metrics, card, curves) are copied at once into
benchmarks/results/pretrained/NAME/: commit them (runs/ does not outlive a session here).

Arms (NAME_sSEED):
  lite0_128   efficientnet_lite0 --init imagenet at 128 px (0.25 GFLOP)
  lite0_160   the same at 160 px (0.39 GFLOP; the images are 200x150, so 160 is a slight upsample)
  lite0_192   the same at 192 px (0.56 GFLOP)
  lite0_128_bal  lite0_128 with a fully class-balanced sampler (--balance sampler) instead of
                 square-root balancing: class balance toward melanoma
  kd_lite0_128   lite0 at 128 px distilled from the ensemble of the three lite0_128 seeds
  kd_mnv4_128    the from-scratch mobilenetv4_conv_small (10 epochs) distilled from the same
                 ensemble: the control
  lite2_260   efficientnet_lite2 --init imagenet at 260 px: a teacher over the 1 GFLOP budget
              (about 6x lite0_128's cost per image: last in the queue on 2 cores)

Recipe of every pretrained arm (the issue's short fine-tune, made resumable): AdamW at 1e-3,
batch 32, 1 warm-up epoch then cosine, square-root class balancing in the sampler and the loss,
dropout 0.2 before the head, the package's default augmentation (flips, 90-degree rotations,
scale crops, colour jitter).

Usage: python benchmarks/pretrained.py [--run runs/pretrained] [--lanes 2] [--seeds 0 1 2]
                                       [--only NAME ...]   (just these, in this order)
       python benchmarks/pretrained.py --post-only [--only NAME ...]   (the steps after training)
       python benchmarks/pretrained.py --report            (the table from the committed results)
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

DATA = "../shared/data/ham10000"
SPLIT = "benchmarks/results/mae_teacher/pretrain/split.json"  # the shipped model's split
RESULTS = Path("benchmarks/results/pretrained")
EPOCHS = 6
KEEP = ("config.json", "metrics.json", "training_curves.png", "confusion_test.png")


def recipe(arch: str, size: int, seed: int, balance: str = "sqrt") -> list[str]:
    return ["--arch", arch, "--init", "imagenet", "--img-size", str(size), "--epochs",
            str(EPOCHS), "--batch-size", "32", "--lr", "1e-3", "--warmup", "1",
            "--balance", balance, "--drop-rate", "0.2", "--seed", str(seed)]


def jobs(run: Path, seeds: list[int]) -> list[tuple[str, list[str]]]:
    """(name, skinedge arguments), in priority order: the students that may ship first."""
    common = ["--data", DATA, "--split-file", SPLIT, "--no-progress"]
    out = []
    for size in (128, 160):
        out += [(f"lite0_{size}_s{s}", ["train", *recipe("efficientnet_lite0", size, s), *common])
                for s in seeds]
    # Class balance toward melanoma: every class drawn equally often (the shipped recipe's).
    out += [(f"lite0_128_bal_s{s}", ["train", *recipe("efficientnet_lite0", 128, s, "sampler"),
                                     *common]) for s in seeds]
    # The affordable teacher on 2 cores: the ensemble of the three lite0_128 seeds.
    ensemble = ",".join(str(run / f"lite0_128_s{s}" / "best") for s in seeds)
    for s in seeds:
        out.append((f"kd_lite0_128_s{s}", ["distill", *recipe("efficientnet_lite0", 128, s),
                                           "--teacher", ensemble, *common]))
    for s in seeds:
        out.append((f"kd_mnv4_128_s{s}", ["distill", "--student", "mobilenetv4_conv_small",
                                          "--img-size", "128", "--epochs", "10", "--drop-rate",
                                          "0.2", "--seed", str(s), "--teacher", ensemble, *common]))
    out += [(f"lite0_192_s{s}", ["train", *recipe("efficientnet_lite0", 192, s), *common])
            for s in seeds]
    out += [(f"lite2_260_s{s}", ["train", *recipe("efficientnet_lite2", 260, s), *common])
            for s in seeds]
    return [(name, [a.replace("--arch", "--student") if args[0] == "distill" else a for a in args])
            for name, args in out]


def making(run: Path, name: str) -> bool:
    """Another process (an earlier queue) is training or post-processing this run now."""
    return subprocess.run(["pgrep", "-f", "--", f"--out {run / name}( |$|/)"],
                          capture_output=True).returncode == 0


def keep_results(run: Path, name: str) -> None:
    """Copy a finished run's small results into benchmarks/results/pretrained/NAME/."""
    src, dest = run / name, RESULTS / name
    dest.mkdir(parents=True, exist_ok=True)
    for f in KEEP:
        if (src / f).is_file():
            shutil.copy2(src / f, dest / f)
    if (src / "best" / "card.json").is_file():
        shutil.copy2(src / "best" / "card.json", dest / "card.json")


def run_lane(queue: list, lock: threading.Lock, run: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")])))
    while True:
        with lock:
            job = next((j for j in queue if ready(j, run)), None)
            if job is None:
                if not queue:
                    return
            else:
                queue.remove(job)
        if job is None:  # what is left waits for a teacher another lane is training
            time.sleep(30)
            continue
        name, args = job
        while making(run, name):  # left running by an earlier queue: wait, then post-process
            time.sleep(30)
        if (run / name / "metrics.json").is_file():
            keep_results(run, name)
            post(run, name, env)
            continue
        cmd = [sys.executable, "-m", "skinedge.cli", *args, "--out", str(run / name)]
        print(f"[start {time.strftime('%H:%M:%S')}] {name}: skinedge {' '.join(args)}", flush=True)
        with open(run / f"{name}.log", "a") as log:
            rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        print(f"[end {time.strftime('%H:%M:%S')}] {name}: exit {rc}", flush=True)
        if rc == 0:
            keep_results(run, name)
        if (run / name / "metrics.json").is_file():
            post(run, name, env)


def post(run: Path, name: str, env: dict) -> None:
    """After training: calibrate on val, export int8 .pte and fp32 .onnx, and score the
    calibrated checkpoint and the int8 .pte on the test split (the referral operating point,
    int8's change). Each step is skipped when its output exists, so this resumes too."""
    folder, dest = run / name, RESULTS / name
    dest.mkdir(parents=True, exist_ok=True)
    cli = [sys.executable, "-m", "skinedge.cli"]
    arts = folder / "artifacts"
    steps = [
        (folder / "calibrated" / "card.json",
         ["calibrate", str(folder / "best"), "--data", DATA, "--out", str(folder / "calibrated")]),
        (dest / "eval_fp32.json", ["eval", str(folder / "calibrated"), "--data", DATA,
                                   "--split", "test", "--json", "--bootstrap", "0", "--plot",
                                   str(folder / "confusion_test_calibrated.png")]),
        (arts / "int8.done", ["export", str(folder / "calibrated"), "--target", "executorch",
                              "--quant", "int8", "--data", DATA, "--no-golden", "--out", str(arts)]),
        (arts / "fp32.done", ["export", str(folder / "calibrated"), "--target", "onnx",
                              "--quant", "fp32", "--data", DATA, "--no-golden", "--out", str(arts)]),
        (dest / "eval_int8.json", ["eval", "INT8", "--data", DATA, "--split", "test", "--json",
                                   "--bootstrap", "0"]),
    ]
    for done, args in steps:
        if done.is_file():
            continue
        if "INT8" in args:
            ptes = sorted(arts.rglob("*_int8.pte"))
            if not ptes:
                print(f"[post] {name}: no int8 .pte (export failed its parity gate?)", flush=True)
                return
            args = [str(ptes[0]) if a == "INT8" else a for a in args]
        with open(run / f"{name}.post.log", "a") as log:
            out = subprocess.run([*cli, *args], stdout=subprocess.PIPE, stderr=log, env=env,
                                 text=True)
        if out.returncode != 0:
            print(f"[post] {name}: skinedge {args[0]} exit {out.returncode}", flush=True)
            return
        if done.parent == dest or done.suffix == ".done":  # what the command printed
            done.write_text(out.stdout or "ok\n")
    print(f"[post {time.strftime('%H:%M:%S')}] {name}: calibrated, exported, scored", flush=True)


def post_lane(run: Path, names: list[str]) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    for name in names:
        while not (run / name / "metrics.json").is_file():
            time.sleep(60)
        keep_results(run, name)
        post(run, name, env)


def ready(job: tuple, run: Path) -> bool:
    """A distillation job waits until every teacher's run has finished."""
    args = job[1]
    if "--teacher" not in args:
        return True
    teachers = args[args.index("--teacher") + 1].split(",")
    return all((Path(t).parent / "metrics.json").is_file() for t in teachers)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", type=Path, default=Path("runs/pretrained"))
    p.add_argument("--lanes", type=int, default=2, help="runs side by side, one thread each")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--only", nargs="*", help="run only these run names, in this order")
    p.add_argument("--report", action="store_true", help="print the table of the committed "
                   "results and write its plot (benchmarks/pretrained_report.py)")
    p.add_argument("--post-only", action="store_true", help="only the steps after training "
                   "(calibrate, export, test scores), for each run of the queue as it finishes "
                   "(beside a queue started before these steps existed)")
    a = p.parse_args()
    if a.post_only:
        return post_lane(a.run, [j[0] for j in jobs(a.run, a.seeds)
                                 if not a.only or j[0] in a.only])
    if a.report:
        sys.path.insert(0, str(Path(__file__).parent))
        from pretrained_report import main as report

        return report(RESULTS)
    a.run.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(Path(__file__).parent))
    from ablation import run_queue

    run_queue(jobs(a.run, a.seeds), a.only, a.lanes, run_lane, a.run)


if __name__ == "__main__":
    main()
