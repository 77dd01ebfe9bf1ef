from __future__ import annotations

from typing import Literal

from loa_core.settings import CommonSettings


class TranscodeSettings(CommonSettings):
    http_port: int = 8002
    # x264 speed/size trade-off for every cut; unset: each cut's own, chosen by measuring VMAF (profiles.py). Not
    # "ultrafast": it turns off CABAC and B-frames, so its output is Constrained Baseline, not the High profile
    # platforms want.
    x264_preset: Literal["superfast", "veryfast", "faster", "fast", "medium", "slow"] | None = None
    # x264 constant rate factor for every quality-driven cut (lower is better quality and bigger files); unset: each
    # cut's own (profiles.py).
    crf: int | None = None
    # Threads per ffmpeg run; 0 lets x264 pick (all cores).
    ffmpeg_threads: int = 0
    # Cap on how fast the source is read, in multiples of real time (0: no cap); see EncodeOptions.read_rate.
    ffmpeg_read_rate: float = 0.0
    # Jobs one worker runs at once. More than one lets a short job pass a long one from another partition
    # (each job's offset is committed only once it is done, so none is lost either way). As many more may wait,
    # without running, for a job another worker holds (its lease: lease.py), as after a rebalance.
    concurrency: int = 2
    # Consumer-group timing (see app.faust_options). The session timeout bounds how long a dead worker's
    # partitions wait for a new owner; max poll interval is above the longest job (2-hour livestreams).
    broker_session_timeout_s: float = 30.0
    broker_heartbeat_interval_s: float = 3.0
    broker_max_poll_interval_s: float = 3 * 3600.0
    # Chunked encoding (chunks.py): footage at least `chunked_from_s` long (after its trim) is cut at keyframes into
    # chunks of about `chunk_s` that every worker of the group encodes; a stretch without keyframe longer than
    # `chunk_max_s` keeps the single run. The owner asks again for missing chunks when none has finished for
    # `chunk_stall_s`, at most `chunk_requests` times, then encodes in a single run. Each worker encodes up to
    # `chunk_concurrency` chunks at once (besides its `concurrency` jobs, which mostly wait while chunked).
    chunked: bool = True
    chunked_from_s: float = 180.0
    chunk_s: float = 30.0
    chunk_max_s: float = 120.0
    chunk_stall_s: float = 300.0
    chunk_requests: int = 3
    chunk_concurrency: int = 1
