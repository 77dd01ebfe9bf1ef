"""Polling 1,000 posts for comments and statistics: YouTube quota units spent and the poller's RSS.

Run: .cache/venv/bin/python bench/feedback_poll.py [--posts 1000] [--comments 5000] [--steady-rounds 10] [--timeout 900]

Starts a Kafka broker, the strict YouTube statistics emulator (statistics, channels, commentThreads; 1 unit a call,
counted by the emulator itself) and the metrics service as a process (`python -m loa_metrics`, Faust and all), which
starts its poller as a child process (`python -m loa_metrics.poller`), with one YouTube channel, 1-second rounds and
the default page cap. The baseline is the poller idle (settled, nothing to poll); then --posts posts are announced on
posts.published and --comments comments wait on the platform. The poller's RSS (and, for reference, the service's
own: it stores and triages what the poller collects) is sampled every 50 ms from /proc until every comment is stored
and every post has figures (the catch-up), then for --steady-rounds more rounds (nothing new: each round is one
commentThreads call per channel, the statistics waiting until due). Prints the units of the catch-up and of a steady
round, what a day of steady rounds at the default 300 s costs against the poller's budget (youtube_daily_units,
2,000 of the project's 10,000), and the poller's RSS idle, peak and peak/idle (goal: peak < 100 MB).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from loa_core.channels import Channel, dump_channels  # noqa: E402
from loa_core.contracts import FOOTAGE_UPLOADED, POSTS_PUBLISHED, new_id  # noqa: E402
from loa_core.kafka import EventProducer, ensure_topics  # noqa: E402
from loa_dev.kafka import KafkaBroker  # noqa: E402
from loa_metrics.settings import MetricsSettings  # noqa: E402
from tests.support.metrics_events import published, uploaded  # noqa: E402
from tests.support.metrics_process import MetricsProcess  # noqa: E402
from tests.support.stats_emulators import Figures, YouTubeStatsEmulator  # noqa: E402

MB = 1024 * 1024
DAY_S = 24 * 3600


def rss_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except FileNotFoundError:
        pass
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--comments", type=int, default=5000)
    parser.add_argument("--steady-rounds", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=900, help="seconds the catch-up may take (a loaded machine)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="loa-bench-feedback-"))
    broker = KafkaBroker(work / "kafka")
    youtube = YouTubeStatsEmulator(work / "yt")
    metrics: MetricsProcess | None = None
    try:
        youtube.start()
        broker.start()
        prefix = "bench."
        asyncio.run(ensure_topics(broker.bootstrap, prefix))
        videos = [f"vid{i:05d}" for i in range(args.posts)]
        for i, video in enumerate(videos):
            youtube.videos[video] = Figures(views=10 * i, likes=i, comments=args.comments // args.posts)
        for n in range(args.comments):
            at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_764_000_000 + 30 * n))
            youtube.comments.comment(videos[n % args.posts], f"Bình luận {n}: đường ngập, rác chưa thu", at)
        (work / "m").mkdir()
        channels = work / "channels.json"
        channels.write_text(
            dump_channels([Channel(name="p1-yt", platform="youtube", profiles=("youtube",), ward="p1")])
        )
        creds = work / "creds.json"
        creds.write_text(json.dumps({"p1-yt": {"access_token": "yt-token"}}))
        metrics = MetricsProcess(
            work / "m",
            {
                "LOA_KAFKA_BOOTSTRAP": broker.bootstrap,
                "LOA_TOPIC_PREFIX": prefix,
                "LOA_CHANNELS_FILE": str(channels),
                "LOA_STATS_CREDENTIALS_FILE": str(creds),
                "LOA_YOUTUBE_API_BASE": youtube.base_url,
                "LOA_STATS_ROUND_S": "1",
            },
        )
        metrics.start()
        assert metrics.process is not None
        service_pid, pid = metrics.process.pid, metrics.poller_pid()
        time.sleep(10)  # settled: consumer group joined, first (empty) rounds done
        idle, service_idle = rss_of(pid), rss_of(service_pid)
        units_idle = youtube.units_spent
        peak, service_peak = idle, service_idle
        done = threading.Event()

        def sample() -> None:
            nonlocal peak, service_peak
            while not done.is_set():
                peak = max(peak, rss_of(pid))
                service_peak = max(service_peak, rss_of(service_pid))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()

        async def announce() -> None:
            producer = EventProducer(broker.bootstrap, prefix)
            try:
                for video in videos:
                    footage_id = new_id()
                    await producer.send(FOOTAGE_UPLOADED, uploaded(footage_id, channels=("p1-yt",)))
                    event = published(footage_id, "youtube", channel="p1-yt", platform="youtube", post_id=video)
                    await producer.send(POSTS_PUBLISHED, event)
            finally:
                await producer.stop()

        started = time.perf_counter()
        asyncio.run(announce())
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            stored = metrics.count("SELECT COUNT(*) FROM feedback_items")
            polled = metrics.count("SELECT COUNT(*) FROM posts WHERE stats_at IS NOT NULL")
            if stored >= args.comments and polled >= args.posts:
                break
            time.sleep(0.5)
        else:
            raise SystemExit(
                f"{metrics.log_tail()}\nnot caught up: {stored} comments, {polled} posts polled; poller RSS so far: "
                f"idle {idle / MB:.1f} MB, peak {peak / MB:.1f} MB"
            )
        caught_up_s = time.perf_counter() - started
        units_catch_up = youtube.units_spent - units_idle
        calls = [c[0] for c in youtube.calls]
        before_steady, calls_before = youtube.units_spent, len(youtube.calls)
        time.sleep(args.steady_rounds * 1.0 + 0.5)
        steady_units = youtube.units_spent - before_steady
        # Counted by the emulator, live (the service's counters are the poller's as of its last round).
        steady_calls = [c[0] for c in youtube.calls[calls_before:]].count("commentThreads")
        done.set()
        sampler.join()
        duplicates = args.comments - metrics.count("SELECT COUNT(DISTINCT external_id) FROM feedback_items")
        per_round = steady_units / max(1.0, steady_calls)
        defaults = MetricsSettings()
        per_day = per_round * DAY_S / defaults.stats_round_s
        print(f"posts {args.posts}, comments {args.comments}: caught up in {caught_up_s:.1f} s")
        print(
            f"YouTube units, catch-up:      {units_catch_up:6d} (videos.list {calls.count('videos')}, "
            f"channels.list {calls.count('channels')}, commentThreads.list {calls.count('commentThreads')})"
        )
        print(f"YouTube units, steady round:  {per_round:6.2f} ({steady_units} in {steady_calls} comment calls)")
        print(
            f"steady day at {defaults.stats_round_s:.0f} s rounds: {per_day:6.0f} units of the poller's "
            f"{defaults.youtube_daily_units} (project: 10,000); statistics add ≤ "
            f"{-(-args.posts // 50) * 24} units a day while every post is fresh (hourly), far fewer later"
        )
        print(f"comments stored: {args.comments - duplicates} distinct, duplicates {duplicates}")
        if metrics.children() != [pid]:
            raise SystemExit(f"the poller measured ({pid}) is not the service's one child: {metrics.children()}")
        print(f"poller RSS idle:              {idle / MB:7.1f} MB")
        print(f"poller RSS peak (polling):    {peak / MB:7.1f} MB (goal < 100 MB)")
        print(f"peak / idle:                  {peak / idle:7.2f}")
        print(f"service RSS idle, peak:       {service_idle / MB:7.1f}, {service_peak / MB:7.1f} MB (stores, triages)")
    finally:
        if metrics is not None and metrics.process is not None:
            metrics.process.terminate()
            metrics.process.wait(timeout=60)
        youtube.stop()
        broker.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
