"""The model card's figures for v0.14 (v0.13's denoiser, v0.10's encoder, the decoder trained alone 6,000 more steps):
the codec rows from this folder's `codec_gate.json` (`scripts/eval_codec.py`), the edit rows from the five gate runs
as `../fourier_octave/card_metrics.py` summarizes them, with v0.13's beside. Writes `metrics.json` beside this script.

    python docs/benchmark/v014_decoder/card_metrics.py runs/gate/{set}_v013dec8 runs/gate/{set}_oct
"""
import importlib.util
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("octave_card", HERE.parent / "fourier_octave" / "card_metrics.py")
octave_card = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(octave_card)

SETS = {"lv": "LibriVox real speech (5 clips)", "tts": "14 held-out low male natural TTS clips",
        "ast": "Asterisk test prompts (10 real clips)", "ctts": "fresh TTS set (19 test-split clips, 11 voices)",
        "cast": "fresh Asterisk set (12 real test prompts)"}


def codec_rows() -> dict:
    gate = json.loads((HERE / "codec_gate.json").read_text())["sets"]
    old = json.loads((HERE.parent / "fourier_octave" / "metrics.json").read_text())
    lv, ast = gate["real_dir"], gate["test_real"]
    codec, ref = lv["codec"], lv["mel_griffin_lim"]
    v010 = {k: v for k, v in old.items() if k.startswith("codec round trip")}
    lv_old, ast_old = (v010[k] for k in sorted(v010, key=lambda k: "Asterisk" in k))
    return {
        "codec round trip, LibriVox real speech (5 clips, means; scripts/eval_codec.py)": {
            "STOI": round(codec["stoi"], 3), "PESQ-wb": round(codec["pesq_wb"], 2),
            "speaker similarity": round(codec["speaker_similarity"], 3),
            f"Whisper WER (source {lv['source']['wer_source']:.3f})": round(codec["wer_output"], 3),
            f"DNSMOS OVRL (source {lv['source']['dnsmos_source']:.2f})": round(codec["dnsmos_output"], 2),
            "median F0 error (st)": round(codec["f0_error_st"], 3),
            "mel + Griffin-Lim reference, same run: STOI / PESQ / sim / WER":
                f"{ref['stoi']:.3f} / {ref['pesq_wb']:.2f} / {ref['speaker_similarity']:.2f} / {ref['wer_output']:.3f}",
            "v0.10-v0.13 decoder: STOI / PESQ / sim / WER / DNSMOS":
                f"{lv_old['STOI']} / {lv_old['PESQ-wb']} / {lv_old['speaker similarity']} / "
                f"{lv_old['Whisper WER (source 0.06)']} / {lv_old['DNSMOS OVRL (source 3.13)']}"},
        "codec round trip, Asterisk test prompts (20 real clips, 5 speakers, not trained on)": {
            "STOI": round(ast["codec"]["stoi"], 3), "PESQ-wb": round(ast["codec"]["pesq_wb"], 2),
            "speaker similarity": round(ast["codec"]["speaker_similarity"], 3),
            f"DNSMOS OVRL (source {ast['source']['dnsmos_source']:.2f})": round(ast["codec"]["dnsmos_output"], 2),
            "v0.10-v0.13 decoder: STOI / PESQ / sim / DNSMOS":
                f"{ast_old['STOI']} / {ast_old['PESQ-wb']} / {ast_old['speaker similarity']} / "
                f"{ast_old['DNSMOS OVRL (source 2.91)']}"},
    }


def main(model, baseline):
    metrics = codec_rows()
    for key, label in SETS.items():
        row = octave_card.summary(model, key)
        before = octave_card.summary(baseline, key)
        row["v0.13"] = "; ".join(f"{k}: {before[k]}" for k in before if k.startswith(("Whisper", "DNSMOS", "speaker",
                                                                                        "extra octave")))
        metrics[f"pitch edits, {label} (medians, +3 / -3; command-line defaults of toolkit 0.14.0; "
                f"scripts/benchmark.py --steps 12)"] = row
    metrics["targets"] = (
        "met: codec STOI >= 0.93 (0.955 / 0.971), codec PESQ-wb >= 3.0 (LibriVox 3.04, Asterisk 3.55), codec Whisper "
        "WER within 5 points of the source (0.089 vs 0.061), codec speaker similarity >= 0.85, codec DNSMOS within 0.3, "
        "+3 / -3 within 0.5 st on every set, edit speaker similarity >= 0.80, edit WER within 10 points of the source, "
        "duration within 2 %, pauses within 3 dB; missed: octave errors: fewer than v0.10's on every set and "
        "direction, not none (0.6-5.0 % of voiced frames per set and direction an octave off by the tracker-free "
        "check, Praat's extra jumps 77 over the five sets; v0.10 130, v0.13 85)")
    (HERE / "metrics.json").write_text(json.dumps(metrics, indent=1, ensure_ascii=False))
    print(json.dumps(metrics, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main(*sys.argv[1:3])
