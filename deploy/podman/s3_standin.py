#!/usr/bin/env python3
"""STAND-IN for the MinIO server (`minio server DIR --console-address :9001`): moto's S3 on port 9000.

MinIO publishes no Debian package and no image can be pulled here, so deploy/podman/s3.Containerfile installs this
as `minio` in a Debian image. It keeps the part of MinIO's contract docker-compose.yaml uses:
- `minio server DIR [--console-address ADDR]`: S3 on :9000; the console address is accepted and not served;
- credentials from MINIO_ROOT_USER / MINIO_ROOT_PASSWORD: a request signed with another access key, or unsigned,
  is refused with 403 InvalidAccessKeyId (moto does not verify signatures, so the secret itself is not checked);
- data in DIR survives a restart: the buckets and objects are written to DIR/moto-s3-state.pickle a moment after
  each change and on SIGTERM, and read back at start (a SIGKILL loses at most the last second of changes).
It is for the compose smoke test on machines without MinIO, not for data anyone keeps.
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

STATE_FILE = "moto-s3-state.pickle"
_ACCESS_KEY = re.compile(r"Credential=([^/,\s]+)/")
_WRITES = {"PUT", "POST", "DELETE"}


class AccessKeyGate:
    """WSGI middleware: only MINIO_ROOT_USER's access key gets through; marks the state dirty on writes."""

    def __init__(self, app: Any, access_key: str, dirty: threading.Event) -> None:
        self.app, self.access_key, self.dirty = app, access_key, dirty

    def __call__(self, environ: dict, start_response: Any) -> Any:
        found = _ACCESS_KEY.search(environ.get("HTTP_AUTHORIZATION", "")) or _ACCESS_KEY.search(
            "Credential=" + _query_credential(environ.get("QUERY_STRING", ""))
        )
        if not found or found.group(1) != self.access_key:
            body = (
                b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidAccessKeyId</Code>'
                b"<Message>The access key is not MINIO_ROOT_USER's.</Message></Error>"
            )
            start_response("403 Forbidden", [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
            return [body]
        if environ.get("REQUEST_METHOD") in _WRITES:
            self.dirty.set()
        return self.app(environ, start_response)


def _query_credential(query: str) -> str:
    from urllib.parse import parse_qs

    return (parse_qs(query).get("X-Amz-Credential") or [""])[0]


def load_state(path: Path) -> None:
    from moto.s3.models import s3_backends

    if not path.is_file():
        return
    for account, partitions in pickle.loads(path.read_bytes()).items():
        for partition, backend in partitions.items():
            s3_backends[account][partition] = backend
    print(f"s3 stand-in: restored {path}", flush=True)


def save_state(path: Path) -> None:
    from moto.s3.models import s3_backends

    state = {account: dict(partitions.items()) for account, partitions in s3_backends.items()}
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(state))
    tmp.replace(path)  # atomic: a crash mid-write leaves the previous state


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="minio", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    server = sub.add_parser("server")
    server.add_argument("data_dir", type=Path)
    server.add_argument("--console-address", default=":9001")
    server.add_argument("--address", default=":9000")
    args = parser.parse_args(argv)
    access_key = os.environ.get("MINIO_ROOT_USER", "")
    if not access_key or not os.environ.get("MINIO_ROOT_PASSWORD"):
        print("minio (stand-in): set MINIO_ROOT_USER and MINIO_ROOT_PASSWORD", file=sys.stderr)
        return 2

    from moto.server import create_backend_app
    from werkzeug.serving import make_server

    args.data_dir.mkdir(parents=True, exist_ok=True)
    state = args.data_dir / STATE_FILE
    load_state(state)
    dirty = threading.Event()
    host, _, port = args.address.rpartition(":")
    httpd = make_server(
        host or "0.0.0.0", int(port), AccessKeyGate(create_backend_app("s3"), access_key, dirty), threaded=True
    )

    def saver() -> None:
        while True:
            dirty.wait()
            time.sleep(1)
            dirty.clear()
            save_state(state)

    threading.Thread(target=saver, daemon=True).start()

    def stop(signum: int, _frame: object) -> None:
        save_state(state)
        print(f"s3 stand-in: saved {state} on signal {signum}", flush=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"s3 stand-in (moto) on {host or '0.0.0.0'}:{port}, data in {args.data_dir}", flush=True)
    httpd.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
