#!/usr/bin/env python3
"""STAND-IN for the MinIO client `mc`: the four commands docker-compose.yaml runs, through boto3.

  mc alias set ALIAS URL ACCESS_KEY SECRET_KEY   remember an endpoint (in ~/.mc-standin.json)
  mc ready ALIAS                                 exit 0 when the endpoint answers (the healthcheck; the alias
                                                 `local` defaults to http://localhost:9000 with MINIO_ROOT_*)
  mc mb [--ignore-existing] ALIAS/BUCKET         create a bucket
  mc ls ALIAS                                    list the buckets
Anything else exits 2 saying it is not part of the stand-in.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ALIASES = Path.home() / ".mc-standin.json"


def _aliases() -> dict:
    known = json.loads(ALIASES.read_text()) if ALIASES.is_file() else {}
    known.setdefault(
        "local",
        {
            "url": "http://localhost:9000",
            "access_key": os.environ.get("MINIO_ROOT_USER", ""),
            "secret_key": os.environ.get("MINIO_ROOT_PASSWORD", ""),
        },
    )
    return known


def _client(alias: str):  # noqa: ANN202 - boto3 is untyped here
    import boto3

    known = _aliases()
    if alias not in known:
        raise SystemExit(f"mc (stand-in): no alias {alias!r}; run `mc alias set {alias} URL KEY SECRET` first")
    spec = known[alias]
    return boto3.client(
        "s3",
        endpoint_url=spec["url"],
        aws_access_key_id=spec["access_key"],
        aws_secret_access_key=spec["secret_key"],
        region_name="us-east-1",
    )


def main(argv: list[str]) -> int:
    match argv:
        case ["alias", "set", alias, url, access_key, secret_key]:
            known = _aliases()
            known[alias] = {"url": url, "access_key": access_key, "secret_key": secret_key}
            ALIASES.write_text(json.dumps(known))
            print(f"Added `{alias}` successfully.")
        case ["ready", alias]:
            try:
                _client(alias).list_buckets()
            except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
                print(f"mc (stand-in): {alias} not ready: {exc}", file=sys.stderr)
                return 1
            print(f"The cluster '{alias}' is ready")
        case ["mb", *flags, target] if set(flags) <= {"--ignore-existing", "-p"}:
            alias, _, bucket = target.partition("/")
            client = _client(alias)
            existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
            if bucket in existing and "--ignore-existing" not in flags and "-p" not in flags:
                print(f"mc (stand-in): bucket {target} exists", file=sys.stderr)
                return 1
            if bucket not in existing:
                client.create_bucket(Bucket=bucket)
            print(f"Bucket created successfully `{target}`.")
        case ["ls", alias]:
            for bucket in _client(alias).list_buckets().get("Buckets", []):
                print(f"{bucket['Name']}/")
        case _:
            print(
                f"mc (stand-in): `mc {' '.join(argv)}` is not part of the stand-in (see its docstring)", file=sys.stderr
            )
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
