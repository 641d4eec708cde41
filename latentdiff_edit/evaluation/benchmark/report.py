"""The benchmark's report: medians per method × edit, `results.md`, and the before/after example files."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ...audio import save_audio
from ...defaults import DEFAULT_INVERSION_DEPTH, LOWERING_INVERSION_DEPTH, auto_inversion_depth
from .measures import clean_value, finite_median
from .methods import METHODS, NO_EDIT

# (header, key of an output record, format)
EDIT_COLUMNS = [
    ("achieved shift (st)", "achieved_shift_st", "{:+.2f}"),
    ("abs error (st)", "shift_error_st", "{:.2f}"),
    ("F0 spread ratio", "spread_ratio", "{:.2f}"),
    ("speaker sim", "speaker_similarity", "{:.3f}"),
    ("duration ratio", "duration_ratio", "{:.3f}"),
    ("drift", "alignment_drift", "{:.3f}"),
    ("MCD vs source (dB)", "mcd_db", "{:.2f}"),
    ("DNSMOS OVRL", "dnsmos_ovrl", "{:.2f}"),
    ("WER", "wer", "{:.3f}"),
    ("WER pooled", "wer_pooled", "{:.3f}"),
    ("pause excess vs codec (dB)", "silent_energy_excess_db", "{:+.1f}"),
    ("extra octave jumps", "extra_octave_jumps", "{:.0f}"),
    ("octave-off frames, harmonic", "octave_off_share", "{:.1%}"),
    ("RTF", "rtf", "{:.3f}"),
]
CODEC_COLUMNS = [
    ("STOI", "stoi", "{:.3f}"),
    ("PESQ", "pesq", "{:.2f}"),
    ("MCD (dB)", "mcd_db", "{:.2f}"),
    ("log-mel dist", "log_mel_vs_source", "{:.3f}"),
    ("speaker sim", "speaker_similarity", "{:.3f}"),
    ("DNSMOS OVRL", "dnsmos_ovrl", "{:.2f}"),
    ("WER", "wer", "{:.3f}"),
    ("WER pooled", "wer_pooled", "{:.3f}"),
    ("RTF", "rtf", "{:.3f}"),
]
RECONSTRUCTION_COLUMNS = [
    ("latent SNR (dB)", "latent_snr_db", "{:.2f}"),
    ("log-mel regen vs codec", "log_mel_regen_vs_codec", "{:.3f}"),
    ("log-mel codec vs source", "log_mel_codec_vs_source", "{:.3f}"),
    ("log-mel regen vs source", "log_mel_regen_vs_source", "{:.3f}"),
    ("inversion RTF", "inversion_rtf", "{:.3f}"),
]
ORACLE_COLUMNS = [("MCD to target (dB)", "mcd_db", "{:.2f}"), ("F0 RMSE to target (st)", "f0_rmse_st", "{:.2f}")]


def _medians(records: list[dict], keys: Sequence[str]) -> dict:
    """Medians of `keys` over `records`; `wer_pooled` is the WER of all their words together (`pooled_wer`)."""
    return {"n": len(records), **{key: pooled_wer(records) if key == "wer_pooled" else
                                  clean_value(finite_median(r.get(key) for r in records)) for key in keys}}


def pooled_wer(records: list[dict]) -> float | None:
    """The WER of all records' words together (errors over reference words, as ASR benchmarks report it), from each
    record's `wer` and `reference_words`: the median of a few clips' WERs jumps with one word of a short clip."""
    scored = [(r["wer"], r["reference_words"]) for r in records
              if isinstance(r.get("wer"), (int, float)) and np.isfinite(r["wer"]) and r.get("reference_words")]
    return clean_value(sum(w * n for w, n in scored) / sum(n for _, n in scored)) if scored else None


def summarize(clips: list[dict], args) -> dict:
    """Medians over clips: per method × edit, for the codec round trip, the reconstruction and the oracle."""
    ok = [c for c in clips if "error" not in c]
    outputs = [o for c in ok for o in c.get("outputs", []) if o.get("status") == "ok"]
    memory_key = "cuda_peak_mb" if any("cuda_peak_mb" in o for o in outputs) else "peak_rss_increase_mb"
    edit_keys = [key for _, key, _ in EDIT_COLUMNS] + ["intonation_error", "achieved_value", memory_key]
    edit_order = [NO_EDIT.label] + [e.label for e in args.edits]
    groups = defaultdict(list)
    for output in outputs:
        groups[(output["method"], output["edit"])].append(output)
    edits = [
        {"method": method, "edit": edit, **_medians(groups[(method, edit)], edit_keys)}
        for edit in edit_order for method in METHODS if groups.get((method, edit))
    ]
    codec = [o for o in outputs if o["method"] == "codec"]
    source = [c["source"] for c in ok]
    oracle_rows = [r for c in ok for r in c.get("oracle", []) if r.get("status") == "ok"]
    oracle_groups = defaultdict(list)
    for row in oracle_rows:
        oracle_groups[(row["method"], row["kind"])].append(row)
    oracle = [
        {"method": method, "kind": kind, **_medians(oracle_groups[(method, kind)], ["mcd_db", "f0_rmse_st"])}
        for kind in ("pitch", "intonation") for method in ("source", *METHODS) if oracle_groups.get((method, kind))
    ]
    return {
        "memory_key": memory_key,
        "edits": edits,
        "source": _medians(source, ["dnsmos_ovrl", "wer", "wer_pooled", "median_f0_hz", "f0_spread_st"]),
        "codec": _medians(codec, [key for _, key, _ in CODEC_COLUMNS] + [memory_key]),
        "reconstruction": _medians([c["reconstruction"] for c in ok if "reconstruction" in c],
                                   [key for _, key, _ in RECONSTRUCTION_COLUMNS]),
        "oracle": oracle,
    }


def _cell(value, fmt: str) -> str:
    return "–" if value is None else fmt.format(value)


def markdown_table(header: list[str], rows: list[list]) -> str:
    """A GitHub-flavoured Markdown table (the benchmark report and the model card)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows])


def _depth(config: dict) -> str:
    if config["depth"] is not None:
        return str(config["depth"])
    return f"{LOWERING_INVERSION_DEPTH:g} lowering the pitch, {DEFAULT_INVERSION_DEPTH:g} otherwise"


def write_markdown(path: Path, report: dict) -> None:
    summary, config = report["summary"], report["config"]
    clips = report["clips"]
    failed = [c for c in clips if "error" in c]
    memory_header = "GPU peak (MB)" if summary["memory_key"] == "cuda_peak_mb" else "peak mem rise (MB)"
    lines = [
        "# Voice-edit benchmark",
        "",
        f"- command: `{report['command']}`",
        f"- model: `{config['model']}` (sampling rate {config['sampling_rate']} Hz, attributes "
        f"{', '.join(config['attributes'])})",
        f"- {len(clips) - len(failed)} clips evaluated, {len(failed)} failed; steps {config['steps']}, depth "
        f"{_depth(config)} ({config.get('inversion', 'ddim').upper()} inversion), guidance {config['guidance']} "
        f"against {config.get('guidance_reference', 'source')}, seed {config['seed']}, ASR {config['asr']}, "
        f"{config['num_processes']} process(es) on {config['device']}",
        f"- wall time: {report['wall_time_s']:.1f} s",
        "",
        "## Edits",
        "",
        "Medians over clips (WER pooled: the errors of all clips over all their reference words). The shift error "
        "of an edit that is not a pitch edit is its pitch leakage (requested 0). RTF of cfg/direction includes the "
        "inversion. Peak memory is the rise of the process's peak resident memory during the method (on GPU: the "
        "peak torch allocation).",
        "",
    ]
    header = ["method", "edit", "n"] + [h for h, _, _ in EDIT_COLUMNS] + [memory_header]
    rows = [
        [row["method"], row["edit"], str(row["n"])]
        + [_cell(row[key], fmt) for _, key, fmt in EDIT_COLUMNS]
        + [_cell(row[summary["memory_key"]], "{:.0f}")]
        for row in summary["edits"]
    ]
    lines += [markdown_table(header, rows), ""]
    if config["not_applicable"]:
        reasons = defaultdict(list)  # one line per method and reason, listing its edits
        for item in config["not_applicable"]:
            reasons[(item["method"], item["reason"])].append(item["edit"])
        lines += ["Not applicable:", ""]
        lines += [f"- {method} × {', '.join(edits)}: {reason}" for (method, reason), edits in reasons.items()]
        lines.append("")

    lines += [
        "## Codec round trip (the floor) and source",
        "",
        "STOI, PESQ and the log-mel distance are reference-based (sample-aligned with the source), so they are "
        "computed for the codec round trip only: against a pitch-shifted output they would measure the edit, not "
        "its quality.",
        "",
    ]
    codec, source = summary["codec"], summary["source"]
    header = ["", "n"] + [h for h, _, _ in CODEC_COLUMNS] + [memory_header]
    rows = [
        ["source", str(source["n"])]
        + [_cell(source.get(key), fmt) if key in ("dnsmos_ovrl", "wer", "wer_pooled") else "–"
           for _, key, fmt in CODEC_COLUMNS]
        + ["–"],
    ]
    if codec["n"]:
        rows.append(["codec", str(codec["n"])] + [_cell(codec[key], fmt) for _, key, fmt in CODEC_COLUMNS]
                    + [_cell(codec[summary["memory_key"]], "{:.0f}")])
    lines += [markdown_table(header, rows), ""]

    reconstruction = summary["reconstruction"]
    lines += [
        "## Inversion reconstruction",
        "",
        f"Invert to depth {config['depth'] or auto_inversion_depth(0.0)} with {config['steps']} steps, regenerate "
        "with no edit. Latent SNR against the source latents; log-mel distances (nepers) between the regenerated audio, the "
        "codec round trip and the source.",
        "",
        markdown_table(["n"] + [h for h, _, _ in RECONSTRUCTION_COLUMNS],
               [[str(reconstruction["n"])] + [_cell(reconstruction[k], f) for _, k, f in RECONSTRUCTION_COLUMNS]]),
        "",
    ]

    lines += ["## Paired oracle", ""]
    if summary["oracle"]:
        lines += [
            "Source: the middle rendering of each pair; targets: the other renderings, each requested at what it "
            "measures relative to the source. Distances of each output to the true rendering (DTW-aligned); "
            "`source` is the unedited clip (doing nothing).",
            "",
            markdown_table(["method", "edit", "n"] + [h for h, _, _ in ORACLE_COLUMNS],
                   [[row["method"], row["kind"], str(row["n"])] + [_cell(row[k], f) for _, k, f in ORACLE_COLUMNS]
                    for row in summary["oracle"]]),
            "",
        ]
    else:
        lines += ["No paired renderings (`pair_id` groups) in the input.", ""]

    lines += ["## Notes", ""]
    if config["asr"] == "none":
        lines.append("- WER: not measured (`--asr none` or no ASR package).")
    else:
        lines.append("- WER needs a transcript; on espeak voices ASR is unreliable (see DATA.md): read WER on "
                     "real or flite/Piper speech, and MCD elsewhere.")
    summaries = [name for name in report["plots"] if not name.startswith("example_")]
    examples = len(report["plots"]) - len(summaries)
    lines.append("- Plots: " + ", ".join(f"`{name}`" for name in summaries)
                 + (f"; {examples} before/after figures `example_*.png` (audio in `examples/`)." if examples else "."))
    if failed:
        lines += ["", "## Failed clips", ""]
        lines += [f"- `{c['clip_id']}` ({c['path']}): {c['error']}" for c in failed]
    path.write_text("\n".join(lines) + "\n")


def file_label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", text).strip("_")


def save_examples(folder: Path, source: np.ndarray, outputs: dict, sampling_rate: int) -> list[dict]:
    """WAVs of the source and every output (to listen to, and for the before/after figures)."""
    folder.mkdir(parents=True, exist_ok=True)
    save_audio(folder / "source.wav", source, sampling_rate, overwrite=True)
    files = [{"method": "source", "edit": "none", "path": "source.wav"}]
    for (method, edit_label), audio in outputs.items():
        name = f"{method}__{file_label(edit_label)}.wav"
        save_audio(folder / name, audio, sampling_rate, overwrite=True)
        files.append({"method": method, "edit": edit_label, "path": name})
    return files


def example_name(clip: dict) -> str:
    return f"{clip['index']:04d}_{file_label(clip['clip_id'])}"
