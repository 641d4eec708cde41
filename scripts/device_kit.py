#!/usr/bin/env python
"""Pack what a codec training run needs on a lent accelerator machine that has PyTorch but no package registry:
Python 3.12 wheels of the missing packages and a compressed share of the corpus, plus the command that trains.

    python scripts/device_kit.py --manifest data/corpus/manifest.jsonl --output .device_kit --corpus_mb 18
    # then, on the device (the kit travels with the working tree: name .device_kit in `carry`):
    bash .device_kit/run_codec.sh     # trains, writes the codec, vocoder and log to $OUT

The machine (see the device tool's notes): Python 3.12 with torch, torchaudio, transformers, accelerate, scipy and
matplotlib, but not diffusers, vocos, encodec, soundfile or parselmouth; nothing can be downloaded there; what
travels is at most 64 MiB with the repository (about 25 MB of it the shipped model), and at most 8 files of 16 MiB
come back. So the kit holds:

- `wheels/`: those packages for CPython 3.12 on manylinux x86-64 (`pip download`; encodec, which PyPI has as a
  source distribution only, built into a pure-Python wheel here);
- `corpus/`: training clips as Ogg Opus at about 26 kbps (libsndfile compression level 0.93: PESQ-wb 4.1 against
  the WAV, far above what the codec is asked to reach), real recordings first, then natural TTS voices, never the
  augmented copies (they are cheap to recompute and would crowd out voices), up to `--corpus_mb`; and the held-out
  real clips the run validates on; with its own `manifest.jsonl` (relative paths);
- `run_codec.sh`: installs the wheels and the project into /tmp, runs `scripts/train_codec.py` for
  `--train_minutes` with a GPU-sized batch from the shipped model's weights, and copies the exported components and
  the training log to `$OUT` (six files).

The LibriVox development clips are never packed (they are not in the manifest).
"""

import argparse
import json
import random
import shlex
import subprocess
import sys
from pathlib import Path

import soundfile as sf

from latentdiff_edit.audio import load_audio
from latentdiff_edit.data.manifest import read_manifest

# what the machine lacks (its image's package list), pinned to the versions the project is tested with here
WHEELS = ["diffusers==0.42.1", "vocos==0.1.0", "soundfile==0.14.0", "cffi==2.1.1", "pycparser==3.12",
          "praat-parselmouth==0.4.7", "pystoi==0.4.1", "importlib-metadata==10.2.0", "lazy-importer==0.1.0"]
SOURCE_ONLY = ["encodec==0.1.1"]  # no wheel on PyPI: built here (pure Python)
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64"]
OPUS_LEVEL = 0.93
# the codec stage of the shipped recipe, at a GPU's batch: the encoder fine-tuned from the shipped model's weights
# with the Griffin-Lim decoder (see scripts/train_default_model.py)
TRAIN_ARGS = ["--vocoder", "--learning_rate", "5e-4", "--lr_warmup_steps", "200",
              "--segment_seconds", "1.0", "--validation_steps", "2000", "--checkpointing_steps", "2000",
              "--num_validation_clips", "8", "--dataloader_num_workers", "8"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest", type=Path, required=True, help="The corpus manifest (scripts/make_corpus.py).")
    p.add_argument("--output", type=Path, default=Path(".device_kit"),
                   help="Kit folder, inside the repository and ignored by git (default .device_kit).")
    p.add_argument("--corpus_mb", type=float, default=18.0, help="Budget for the compressed training clips.")
    p.add_argument("--real_share", type=float, default=0.7, help="Share of the budget for real recordings.")
    p.add_argument("--num_validation_clips", type=int, default=8)
    p.add_argument("--train_minutes", type=float, default=8.0, help="Training time on the device.")
    p.add_argument("--train_batch_size", type=int, default=64)
    p.add_argument("--phase", default="griffin_lim", choices=["learned", "griffin_lim"], help="The decoder's phase.")
    p.add_argument("--init_from", default="latentdiff_edit/default_model",
                   help="Weights to start from, relative to the repository root on the device.")
    p.add_argument("--skip_wheels", action="store_true", help="Pack the corpus and script only.")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def download_wheels(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    platforms = [x for platform in PLATFORMS for x in ("--platform", platform)]
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "--python-version", "3.12", "--implementation", "cp", *platforms, "-d", folder, *WHEELS],
                   check=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", folder, *SOURCE_ONLY], check=True)
    return sorted(folder.glob("*.whl"))


def pack_corpus(rows: list[dict], root: Path, folder: Path, budget_bytes: float, real_share: float,
                num_validation: int, seed: int) -> list[dict]:
    """Compress training clips (real first, up to `real_share` of the budget, then TTS) and validation clips."""
    rng = random.Random(seed)
    originals = [r for r in rows if not r.get("augmented")]  # (voices derived from real speakers count as real)
    train = [r for r in originals if r.get("split", "train") == "train"]
    validation = [r for r in originals if r.get("split") == "validation" and r.get("kind") == "real"]
    rng.shuffle(train)
    rng.shuffle(validation)
    packed, used = [], 0
    plan = [("validation", validation[:num_validation], float("inf")),
            ("real", [r for r in train if r.get("kind") == "real"], real_share * budget_bytes),
            ("tts", [r for r in train if r.get("kind") != "real"], budget_bytes)]
    for name, candidates, limit in plan:
        for row in candidates:
            if name != "validation" and used >= min(limit, budget_bytes):
                break
            source = Path(row["path"]).resolve()  # read_manifest resolved it against the manifest's folder
            try:
                audio, sr = load_audio(source)
            except (OSError, ValueError) as error:
                print(f"skipping {source}: {error}", file=sys.stderr)
                continue
            target = (folder / source.relative_to(root)).with_suffix(".ogg")
            target.parent.mkdir(parents=True, exist_ok=True)
            sf.write(target, audio, sr, format="OGG", subtype="OPUS", compression_level=OPUS_LEVEL)
            used += target.stat().st_size
            packed.append({k: v for k, v in row.items() if k != "path"} | {"path": str(target.relative_to(folder))})
    return packed


def write_run_script(path: Path, kit: str, args) -> None:
    train = ["python3", "-m", "accelerate.commands.launch", "--num_processes", "1", "--num_machines", "1",
             "--mixed_precision", "no", "--dynamo_backend", "no", "scripts/train_codec.py",
             "--manifest", f"{kit}/corpus/manifest.jsonl", "--output_dir", "@RUN@", "--init_from", args.init_from,
             "--train_batch_size", str(args.train_batch_size), "--max_train_minutes", str(args.train_minutes),
             "--max_train_steps", "1000000", "--phase", args.phase, *TRAIN_ARGS]
    path.write_text("\n".join([
        "#!/usr/bin/env bash",
        "# Made by scripts/device_kit.py: train the codec on the device, then copy what comes back to $OUT.",
        "set -euo pipefail",
        'cd "$(dirname "$0")/.."',
        "export PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1",
        "if [ -z \"${KIT_SKIP_INSTALL:-}\" ]; then  # (set it to try the script where the packages are installed)",
        f"  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site {kit}/wheels/*.whl",
        "  # the project as `pip install .` lays it out (pipelines/ is the package latentdiff_edit.pipelines), without",
        "  # a build: the machine's setuptools may be older than the project's build needs",
        "  rm -rf /tmp/site/latentdiff_edit && cp -r latentdiff_edit /tmp/site/ && cp -r pipelines /tmp/site/latentdiff_edit/",
        "  export PYTHONPATH=/tmp/site",
        "fi",
        'OUT="${OUT:?set OUT to the folder that comes back}"',
        "nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true",
        'RUN="$(mktemp -d "${TMPDIR:-/tmp}/codec_run.XXXXXX")"  # a new run: never another run\'s checkpoints',
        "set +e",
        shlex.join(train).replace("@RUN@", '"$RUN"') + ' 2>&1 | tee "$OUT/train.log" | { grep -v "it/s" || true; }',
        "status=${PIPESTATUS[0]}",
        "set -e",
        "# what the run saved comes back even when it failed later; the script then fails with the run's status",
        'mkdir -p "$OUT/codec" "$OUT/vocoder"',
        'for f in codec/config.json codec/model.safetensors vocoder/config.json vocoder/diffusion_pytorch_model.safetensors \\',
        '         train_log.jsonl; do',
        '  if [ -f "$RUN/$f" ]; then cp "$RUN/$f" "$OUT/$f"; fi',
        "done",
        'if [ "$status" -ne 0 ]; then echo "training failed (exit $status): see train.log" >&2; fi',
        'exit "$status"',
        "",
    ]))
    path.chmod(0o755)


def main(argv=None):
    args = parse_args(argv)
    kit = args.output
    kit.mkdir(parents=True, exist_ok=True)
    if not args.skip_wheels:
        wheels = download_wheels(kit / "wheels")
        print(f"{len(wheels)} wheels, {sum(w.stat().st_size for w in wheels) / 1e6:.1f} MB")
    rows = read_manifest(args.manifest)
    packed = pack_corpus(rows, args.manifest.parent.resolve(), kit / "corpus", args.corpus_mb * 1e6, args.real_share,
                         args.num_validation_clips, args.seed)
    (kit / "corpus" / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in packed))
    hours = sum(sf.info(kit / "corpus" / r["path"]).duration for r in packed if r["split"] == "train") / 3600
    size = sum(f.stat().st_size for f in kit.rglob("*") if f.is_file()) / 1e6
    kinds = {kind: sum(r.get("kind") == kind for r in packed if r["split"] == "train") for kind in ("real", "tts")}
    write_run_script(kit / "run_codec.sh", kit.name, args)
    print(f"corpus: {hours:.2f} h of training clips ({kinds['real']} real, {kinds['tts']} TTS), "
          f"{sum(r['split'] == 'validation' for r in packed)} validation clips; kit {size:.1f} MB in {kit}")
    print(f"on the device: bash {kit.name}/run_codec.sh   (carry: [\"{kit.name}\"])")


if __name__ == "__main__":
    main()
