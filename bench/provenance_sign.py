"""The cost of signing every cut (a C2PA manifest, loa_core.provenance) as a share of its transcode, same run.

Run: .cache/venv/bin/python bench/provenance_sign.py [--seconds 20] [--repeat 2] [--preset veryfast]

Makes a 1080p30 phone-like source with sound (untimed), then in interleaved rounds:
- transcode: the command transcode runs (graph.build_args), one decode feeding the tiktok, youtube and zalo cuts;
- sign: what the publisher does per post before its upload (loa_publisher.signing): sign each cut with a ward's
  key (ES256, the chain to the root, checked against the root right after signing, as c2pa-rs does), then hash
  the signed copy (the ledger's and the adapters' sha256). One post per cut.
Each figure is the best of --repeat rounds (the machine may be shared); wall and CPU time (the signing's CPU is
this process's, ffmpeg's its child's). Goal: signing every cut < 2 % of the transcode.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from loa_core import provenance  # noqa: E402
from loa_core.hashing import sha256_file  # noqa: E402
from loa_core.media import FFMPEG  # noqa: E402
from loa_transcode.graph import Candidates, EncodeOptions, Job, Output, build_args  # noqa: E402
from loa_transcode.profiles import PROFILES, resolve  # noqa: E402
from loa_transcode.source import SourceInfo  # noqa: E402

CUTS = ("tiktok", "youtube", "zalo")
PHONE = ["-vf", "noise=alls=5:allf=t+u", "-c:v", "libx264", "-preset", "veryfast", "-b:v", "16M", "-maxrate", "20M",
         "-bufsize", "32M"]  # fmt: skip


def transcode(args: list[str]) -> tuple[float, float]:
    start = time.perf_counter()
    process = subprocess.Popen([FFMPEG, "-hide_banner", "-nostdin", "-y", "-v", "error", *args])
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit("ffmpeg failed")
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime


def sign_all(cuts: list[Path], work: Path, key: provenance.KeyPair, trust: provenance.Trust) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    for cut in cuts:
        out = work / f"signed-{cut.name}"
        provenance.sign(
            cut, out, key=key, trust=trust, ward="phuong-1", ward_name="Phường 1", channel="phuong-1-tiktok",
            title="Lễ kỷ niệm", event_date=dt.date(2026, 9, 2), published_at=dt.datetime.now(dt.UTC),
            source_sha256="0" * 64,
            actions=provenance.actions_for(("trimmed", "reframed", "resized", "loudness"), channel="phuong-1-tiktok"),
        )  # fmt: skip
        sha256_file(out)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--preset", default="veryfast")
    opts = parser.parse_args()
    root = provenance.new_root("bench root")
    key = provenance.issue_ward(root, "phuong-1", "Phường 1")
    trust = provenance.Trust(provenance.roots_of([root.chain_pem]))
    with tempfile.TemporaryDirectory(prefix="loa-bench-sign-") as tmp:
        work = Path(tmp)
        source = work / "source.mp4"
        print(f"making a {opts.seconds:g} s 1080p30 phone-like source with sound ...", flush=True)
        subprocess.run(
            [FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30", "-f", "lavfi",
             "-i", "sine=frequency=440:sample_rate=48000", "-t", str(opts.seconds), *PHONE, "-profile:v", "high",
             "-pix_fmt", "yuv420p", "-c:a", "aac", str(source)],
            check=True,
        )  # fmt: skip
        info = SourceInfo(1920, 1080, opts.seconds, True, "30", 30.0)
        targets = [resolve(PROFILES[c], source_width=1920, source_height=1080, duration_s=opts.seconds) for c in CUTS]
        outputs = tuple(Output(t, work / f"{t.name}.mp4") for t in targets)
        job = Job(source, info, outputs, options=EncodeOptions(preset=opts.preset),
                  candidates=Candidates(work / "candidates.gray", every_s=1.0))  # fmt: skip
        args = build_args(job)
        best_t, best_s = (float("inf"), float("inf")), (float("inf"), float("inf"))
        load_before = os.getloadavg()[0]
        for round_ in range(opts.repeat):
            t = transcode(args)
            s = sign_all([o.path for o in outputs], work, key, trust)
            best_t = (min(best_t[0], t[0]), min(best_t[1], t[1]))
            best_s = (min(best_s[0], s[0]), min(best_s[1], s[1]))
            print(f"round {round_ + 1}: transcode wall {t[0]:.2f} s cpu {t[1]:.2f} s | sign {len(outputs)} cuts wall "
                  f"{s[0]:.3f} s cpu {s[1]:.3f} s", flush=True)  # fmt: skip
        load_after = os.getloadavg()[0]
        sizes = ", ".join(f"{o.target.name} {o.path.stat().st_size / 1e6:.1f} MB" for o in outputs)
        print()
        print(f"source: {opts.seconds:g} s 1080p30, cuts: {sizes}; preset {opts.preset}")
        print(f"load average (1 min) before/after: {load_before:.1f} / {load_after:.1f} on {os.cpu_count()} CPUs")
        print(f"transcode (best): wall {best_t[0]:.2f} s, cpu {best_t[1]:.2f} s")
        print(f"sign every cut (best): wall {best_s[0]:.3f} s, cpu {best_s[1]:.3f} s")
        print(f"signing / transcode = {100 * best_s[0] / best_t[0]:.2f} % wall, "
              f"{100 * best_s[1] / best_t[1]:.2f} % cpu  (goal < 2 %)")  # fmt: skip


if __name__ == "__main__":
    main()
