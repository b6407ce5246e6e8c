"""The issue-10 ablation at CPU scale: a queue of training runs, several side by side (one
thread each), resumable. Rerun the same command after a kill: finished runs (metrics.json
present) are skipped, unfinished ones resume from their last epoch. Each finished run's small
results are copied into benchmarks/results/ at once (sync_results.sh): commit them.

Arms (all mobilenetv4_conv_small students at 128 px, 10 epochs, the shipped split):
  student_plain_sN   no teacher (today's recipe, short)
  student_kd_sN      distilled from the MAE-pretrained ViT-Ti teacher (RUN/teacher_mae)
  student_kdcnn_sN   distilled from a supervised CNN teacher: the shipped default model
                     (mobilenetv4_conv_small, 60 epochs, same split)
  teacher_mae[_sN]   ViT-Ti/16 fine-tuned 12 epochs from the MAE encoder (RUN/pretrain)
  teacher_scratch[_sN]  the same from random weights
  student_kdlabels_sN   distilled from the MAE teacher's cached logits (`skinedge teach`, 8
                     fixed views per image): no teacher at run time
  synth, synth_balanced   the CPU-preset latent diffusion model trained on the split's train
                     lesions, and a set it samples, rebalanced to 800 images per class
  student_synth_sN   arm (b): no teacher, real + synthetic
  student_kdsynth_sN arm (g): distilled from the MAE teacher, real + synthetic
  student_res224_sN  resolution: (a) at 224 px instead of 128
  pretrain_synth, teacher_maesynth[_sN]   arm (e): MAE on real + synthetic, then the teacher
  student_kd224_sN   (f) at 224 px
  student_kdens_sN   (f) from the ensemble of the three MAE teachers (item 8's headroom)
  ../keying/keying_{image,draw}_s0   item 5: augmentation keyed by image vs by draw
Seed 0 of the teachers is RUN/teacher_mae and RUN/teacher_scratch (made by mae_teacher.sh).

Usage: python benchmarks/ablation.py [--run runs/mae_teacher] [--lanes 2] [--seeds 0 1 2]
                                    [--only NAME ...]  (just these, in this order)
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

DATA = "../shared/data/ham10000"
CNN_TEACHER = "skinedge/assets/default_model"


def jobs(run: Path, seeds: list[int]) -> list[tuple[str, list[str], Path]]:
    """(name, command, the file whose presence means done), in priority order."""
    split = str(run / "pretrain" / "split.json")
    common = ["--data", DATA, "--img-size", "128", "--split-file", split, "--no-progress"]
    student = common + ["--epochs", "10", "--drop-rate", "0.2"]
    teacher = common + ["--arch", "vit_tiny_patch16", "--epochs", "12", "--lr", "1e-3",
                        "--drop-path", "0.1"]
    mae = ["--layer-decay", "0.75", "--init", str(run / "pretrain" / "best")]
    labels = run / "teacher_mae_labels.safetensors"
    cli = [sys.executable, "-m", "skinedge.cli"]
    out: list[tuple[str, list[str], Path]] = []

    def add(name: str, args: list[str], prefix: list[str] = cli) -> None:
        out.append((name, [*prefix, *args, "--out", str(run / name)], run / name / "metrics.json"))

    for s in seeds:  # students first: they decide what ships
        add(f"student_plain_s{s}", ["train", *student, "--seed", str(s)])
        add(f"student_kd_s{s}", ["distill", *student, "--seed", str(s),
                                 "--teacher", str(run / "teacher_mae" / "best")])
    for s in seeds:
        add(f"student_kdcnn_s{s}", ["distill", *student, "--seed", str(s),
                                    "--teacher", CNN_TEACHER])
    out.append(("teach_mae", [*cli, "teach", "--teacher", str(run / "teacher_mae" / "best"),
                              "--data", DATA, "--split-file", split, "--no-progress",
                              "--out", str(labels)], labels))
    NEEDS[str(labels)] = labels
    labelled = lambda s: (f"student_kdlabels_s{s}", ["distill", *student, "--seed", str(s),
                                                     "--teacher-labels", str(labels)])
    teacher_arm = lambda kind, s: (f"teacher_{kind}{'' if s == 0 else f'_s{s}'}",
                                   ["train", *teacher, *(mae if kind == "mae" else []),
                                    "--seed", str(s)])
    add(*labelled(seeds[0]))  # the cached-teacher path (what a lent GPU brings back)
    if len(seeds) > 1:
        add(*teacher_arm("mae", seeds[1]))
    # Synthetic arms (b) and (g): the CPU-preset latent diffusion model on the same split's
    # train lesions, a set rebalanced to 800 per class, students on real + synthetic.
    synth, balanced = run / "synth", run / "synth_balanced"
    NEEDS[str(synth)] = synth / "model" / "synth_card.json"
    NEEDS[str(balanced)] = balanced / "HAM10000_metadata.csv"
    out.append(("synth_ldm", [*cli, "synth", "train", "--data", DATA, "--split-file", split,
                              "--no-progress", "--out", str(synth)],
                synth / "model" / "synth_card.json"))
    keying = [sys.executable, "benchmarks/aug_keying.py"]

    def keyed(k: str, s: int) -> None:
        name = f"keying_{k}_s{s}"
        out.append((name, [*keying, "--keying", k, "--data", DATA, "--img-size", "64",
                           "--epochs", "60", "--drop-rate", "0.2", "--split-file", split,
                           "--seed", str(s), "--no-progress",
                           "--out", str(run.parent / "keying" / name)],
                    run.parent / "keying" / name / "metrics.json"))
    for s in seeds:  # item 5: the shipped recipe at 64 px, 60 epochs, keyed by image or draw
        for k in ("image", "draw"):
            keyed(k, s)
        if s == seeds[min(1, len(seeds) - 1)]:
            break  # two seeds before the synthetic arms; the third after them (below)
    out.append(("synth_sample", [*cli, "synth", "sample", str(synth), "--balance-to", "800",
                                 "--guidance", "2.0", "--no-progress", "--out", str(balanced)],
                balanced / "HAM10000_metadata.csv"))
    for s in seeds:
        add(f"student_synth_s{s}", ["train", *student, "--seed", str(s),
                                    "--synthetic", str(balanced)])
        add(f"student_kdsynth_s{s}", ["distill", *student, "--seed", str(s), "--synthetic",
                                      str(balanced), "--teacher", str(run / "teacher_mae" / "best")])
    for s in seeds:
        for kind in ("mae", "scratch"):
            add(*teacher_arm(kind, s))
    # Arm (e): MAE on real + synthetic (the same 16 epochs over the larger set), then the
    # teacher fine-tuned from it exactly as (d).
    out.append(("pretrain_synth", [*cli, "pretrain", "--data", DATA, "--img-size", "128",
                                   "--split-file", split, "--no-progress", "--arch",
                                   "vit_tiny_patch16", "--epochs", "16", "--synthetic",
                                   str(balanced), "--out", str(run / "pretrain_synth")],
                run / "pretrain_synth" / "last" / "trainer_state.json"))
    NEEDS[str(run / "pretrain_synth" / "best")] = run / "pretrain_synth" / "last" / "trainer_state.json"
    for s in seeds:
        add(f"teacher_maesynth{'' if s == 0 else f'_s{s}'}",
            ["train", *teacher, "--layer-decay", "0.75", "--init",
             str(run / "pretrain_synth" / "best"), "--seed", str(s)])
    # Resolution (item 6, "if the CPU allows": after arm (e), which the issue names): today's
    # student at 224 px (0.37 GFLOP, inside the 1 GFLOP budget), no teacher, else as (a).
    res = [x if x != "128" else "224" for x in student]
    for s in seeds:
        add(f"student_res224_s{s}", ["train", *res, "--seed", str(s)])
    # (f') seeds 1-2: short runs that fill a lane while arm (e)'s pre-training runs.
    for s in seeds[1:]:
        add(*labelled(s))
    # Resolution and distillation together: (f) at 224 px (the teacher sees the same augmented
    # batch resized to its 128 px), since each alone led its baseline on validation.
    for s in seeds:
        add(f"student_kd224_s{s}", ["distill", *res, "--seed", str(s),
                                    "--teacher", str(run / "teacher_mae" / "best")])
    # Item 8: does an ensemble teacher pass its headroom on? The three (d) teachers averaged
    # (0.625 test, against 0.596 alone; ensemble_headroom.md), live, as (f) otherwise.
    ensemble = ",".join(str(run / (f"teacher_mae{'' if t == 0 else f'_s{t}'}") / "best")
                        for t in seeds)
    for s in seeds:
        add(f"student_kdens_s{s}", ["distill", *student, "--seed", str(s), "--teacher", ensemble])
    for s in seeds[2:]:
        for k in ("image", "draw"):
            keyed(k, s)
    seen: set[str] = set()
    return [j for j in out if not (j[0] in seen or seen.add(j[0]))]


# An input another job makes -> the file whose presence means it is complete (filled by jobs()).
NEEDS: dict[str, Path] = {}
# The done-files of the jobs the lanes are running now (guarded by the queue's lock).
MAKING: set[Path] = set()


def finished(done: Path) -> bool:
    """A pre-training run is complete when its last state reached its configured epochs."""
    if done.name != "trainer_state.json":
        return done.is_file()
    config = done.parent.parent / "config.json"
    return done.is_file() and config.is_file() and \
        json.loads(done.read_text())["epoch"] >= json.loads(config.read_text())["epochs"]


def running(done: Path) -> bool:
    """Another process (an earlier queue) is already making this output."""
    target = str(done if done.suffix == ".safetensors" else
                 done.parent.parent if done.parent.name in ("model", "last") else done.parent)
    return subprocess.run(["pgrep", "-f", "--", f"--out {target}( |$)"],
                          capture_output=True).returncode == 0


SYNC = threading.Lock()  # one sync_results.sh at a time (two lanes may finish together)


def run_lane(queue: list, lock: threading.Lock, run: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")])))
    while True:
        with lock:
            if not queue:
                return
            job = next((j for j in queue if not waits(j, queue)), None)
            if job is not None:
                queue.remove(job)
                MAKING.add(job[2])
        if job is None:  # every job left needs an input another lane is still making
            time.sleep(30)
            continue
        name, cmd, done = job
        try:
            run_job(name, cmd, done, run, env)
        finally:
            with lock:
                MAKING.discard(done)


def need_of(cmd: list[str], done: Path) -> Path | None:
    """The done-file of the input another job makes that this command reads, if any."""
    return next((NEEDS[c] for c in cmd if c in NEEDS and NEEDS[c] != done), None)


def waits(job: tuple, queue: list) -> bool:
    """The job needs an output that a lane is making now or that a job still queued makes:
    take a later job first, rather than hold a core idle (e.g. the teachers of arm (e) while
    its 1.3-hour pre-training runs)."""
    need = need_of(job[1], job[2])
    return need is not None and not finished(need) and \
        (need in MAKING or any(j[2] == need for j in queue))


def run_job(name: str, cmd: list[str], done: Path, run: Path, env: dict) -> None:
    if finished(done):
        print(f"[skip] {name}: finished", flush=True)
        return
    while running(done):  # left by an earlier queue: wait for it, then go on
        time.sleep(30)
    if finished(done):
        return
    need = need_of(cmd, done)
    while need is not None and not finished(need) and running(need):
        time.sleep(30)  # its input is being made by an earlier queue (outside this one)
    if need is not None and not finished(need):
        print(f"[skip] {name}: {need} is missing", flush=True)
        return
    print(f"[start {time.strftime('%H:%M:%S')}] {name}: {' '.join(cmd[1:])}", flush=True)
    folder = done.parent.parent if done.parent.name in ("last", "model") else done.parent
    folder.parent.mkdir(parents=True, exist_ok=True)  # the run folder is the command's own
    with open(run / f"{name}.log", "a") as log:
        rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    print(f"[end {time.strftime('%H:%M:%S')}] {name}: exit {rc}", flush=True)
    if rc == 0:  # runs/ does not outlive a session here: copy the small results at once
        with SYNC:
            subprocess.call(["bash", "benchmarks/sync_results.sh", str(run)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", type=Path, default=Path("runs/mae_teacher"))
    p.add_argument("--lanes", type=int, default=2, help="runs side by side, one thread each")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--only", nargs="*", help="run only these run names, in this order")
    a = p.parse_args()
    if not (a.run / "pretrain" / "best").is_dir() or not (a.run / "teacher_mae").is_dir():
        sys.exit(f"error: {a.run}: run benchmarks/mae_teacher.sh first (pretrain, teacher_mae)")
    run_queue(jobs(a.run, a.seeds), a.only, a.lanes, run_lane, a.run)


def run_queue(queue: list, only: list[str] | None, lanes: int, lane, run: Path) -> None:
    """Run the jobs (name first) in ``lanes`` threads of ``lane(queue, lock, run)``; with
    ``only``, just those names, in that order. Shared by the study queues."""
    queue = [j for j in queue if not only or j[0] in only]
    if only:
        queue.sort(key=lambda j: only.index(j[0]))
    lock = threading.Lock()
    threads = [threading.Thread(target=lane, args=(queue, lock, run)) for _ in range(lanes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
