"""`make run`: the whole pipeline on the embedded default, in the foreground, until Ctrl-C (or SIGTERM).

A process of the stack that dies is started again with backoff (loa_dev.supervise); one run per checkout at a time
(loa_dev.runlock).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

from loa_core.auth import new_token
from loa_core.contracts import FIRST_ADMIN
from loa_dev.kafka import CACHE_DIR, KafkaStartError
from loa_dev.processes import ProcessStartError
from loa_dev.runlock import StackAlreadyRunning, take_run_lock
from loa_dev.stack import KAFKA, SERVICES, Stack
from loa_dev.supervise import Supervisor

RUN_DIR = CACHE_DIR / "run"
CLI_CONFIG = Path(os.environ.get("LOA_CLI_CONFIG", Path.home() / ".config" / "loa" / "cli.json"))
PORTS = {"ingest": 8001, "transcode": 8002, "publisher": 8003, "metrics": 8004}
# The livestream archiver runs beside the four (RTMP ingest on its default rtmp://127.0.0.1:1935/live).
ARCHIVER_PORT = 8006
KAFKA_PORT = 9092


def _token() -> str:
    """One token per machine, kept with the run state, so the CLI keeps working across restarts."""
    path = RUN_DIR / "api-token"
    if not path.exists():
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(new_token())
    return path.read_text().strip()


def _write_cli_config(stack: Stack) -> None:
    CLI_CONFIG.parent.mkdir(parents=True, exist_ok=True)
    CLI_CONFIG.touch(mode=0o600)
    CLI_CONFIG.write_text(
        json.dumps(
            {"ingest_url": stack.url("ingest"), "metrics_url": stack.url("metrics"), "token": stack.token}, indent=2
        )
    )


def main() -> None:
    try:
        lock = take_run_lock(RUN_DIR)
    except StackAlreadyRunning as error:
        print(error, file=sys.stderr)
        raise SystemExit(1) from None
    stack = Stack(
        root=RUN_DIR,
        token=_token(),
        ports={**PORTS, "archiver": ARCHIVER_PORT},
        kafka_port=KAFKA_PORT,
        inherit_fds=(lock,),
    )
    print("Starting Kafka and the four Loa services… / Đang khởi động…", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # A shell that starts us in the background hands down SIGINT as ignored; Ctrl-C must still stop us cleanly.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        stack.start()
        stack.start_service("archiver")
        stack.wait_healthy("archiver")
        _write_cli_config(stack)
        print(
            f"""
Loa is running. / Loa đang chạy.
  Sign in:         {stack.url("ingest")}/signin   user {FIRST_ADMIN}, password in {stack.admin_password_file}
                   (first sign-in: add the shown key to an authenticator app, enter its code / lần đầu: thêm khóa
                   hiện ra vào ứng dụng xác thực rồi nhập mã)
  Upload page:     {stack.url("ingest")}/   (or sign in with the API token in the CLI config below)
  Ingest API:      {stack.url("ingest")}   (docs: {stack.url("ingest")}/docs)
  Status API:      {stack.url("metrics")}/footage/ID
  Published cuts:  {stack.publish_dir}/index.html
  Metrics:         {", ".join(f"{stack.url(s)}/metrics" for s in SERVICES)}
  Livestreams:     rtmp://127.0.0.1:1935/live/<stream key> (keys: POST {stack.url("archiver")}/stream-keys)
  Kafka:           {stack.kafka_bootstrap}
  Logs:            {stack.logs_dir}
  CLI config:      {CLI_CONFIG} (API token inside; `loa upload clip.mp4 --title "…"` uses it)
A process that stops is started again (the reason is printed here). / Tiến trình nào dừng sẽ được khởi động lại.
Press Ctrl-C to stop. / Nhấn Ctrl-C để dừng.""",
            flush=True,
        )
        supervisor = Supervisor(stack, units=(KAFKA, *SERVICES, "archiver"))
        while True:
            supervisor.poll()
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    except (KafkaStartError, ProcessStartError) as error:
        # The first start is not retried: what stops it (a port taken, a broker still running) needs a person.
        print(f"Loa could not start. / Loa không khởi động được.\n{error}", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        # The stop is bounded (the services' grace, then the broker's); a second Ctrl-C must not cut it short and
        # leave a broker half stopped.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("Stopping… / Đang dừng…", flush=True)
        stack.stop()


if __name__ == "__main__":
    main()
