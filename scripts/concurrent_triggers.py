"""Fire N REST triggers of one DAG at the same instant and report the status codes as JSON.

    .venv/bin/python scripts/concurrent_triggers.py --url http://localhost:8080 --password "$PW" -n 16 --wait 900

Gets a token (POST /auth/token), then N threads released together by a barrier each POST
/api/v2/dags/<dag>/dagRuns with {"logical_date": null, "conf": ...}. By default every request gets
its own run id and `ingest_and_validate` a different `ds` (cheap runs, no model moves);
`--same-run-id` posts one run id N times (expected: one 200, the rest 409, never a 5xx). With
`--wait S` it polls the runs it created until each reaches a final state. The last line printed is
a JSON summary; the exit code is 1 when any answer was a 5xx or a waited-for run did not succeed.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import sys
import threading
import time
import uuid

import requests

FINAL = {"success", "failed"}


def token(url: str, user: str, password: str) -> str:
    r = requests.post(f"{url}/auth/token", json={"username": user, "password": password}, timeout=30)
    r.raise_for_status()
    return r.json()["access_token"]


def body(dag: str, i: int, run_id: str, first_day: dt.date) -> dict:
    if dag == "ingest_and_validate":
        conf = {"ds": (first_day + dt.timedelta(days=i)).isoformat()}
    elif dag == "train_and_promote":
        conf = {"dry_run": True, "reason": "concurrent trigger measurement"}
    else:
        raise SystemExit(f"no cheap conf known for {dag}; use ingest_and_validate or train_and_promote")
    return {"dag_run_id": run_id, "logical_date": None, "conf": conf}


def fire(url: str, headers: dict, dag: str, bodies: list[dict]) -> list[dict]:
    barrier = threading.Barrier(len(bodies))
    results: list[dict] = [{} for _ in bodies]

    def one(i: int) -> None:
        session = requests.Session()  # own connection per thread, opened before the barrier
        session.headers.update(headers)
        session.get(f"{url}/api/v2/monitor/health", timeout=30)
        barrier.wait()
        t0 = time.perf_counter()
        try:
            r = session.post(f"{url}/api/v2/dags/{dag}/dagRuns", json=bodies[i], timeout=120)
            results[i] = {"status": r.status_code, "s": round(time.perf_counter() - t0, 2)}
            if r.status_code >= 500:
                results[i]["body"] = r.text[:200]
        except requests.RequestException as e:  # a dropped connection counts as a failure too
            results[i] = {"status": 0, "s": round(time.perf_counter() - t0, 2), "body": repr(e)[:200]}

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def wait_for_runs(url: str, headers: dict, dag: str, run_ids: list[str], limit_s: float) -> dict[str, str]:
    states: dict[str, str] = {}
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        for run_id in run_ids:
            if states.get(run_id) in FINAL:
                continue
            try:
                r = requests.get(f"{url}/api/v2/dags/{dag}/dagRuns/{run_id}", headers=headers, timeout=30)
            except requests.RequestException as e:  # a busy or dead API server: keep polling until the deadline
                states[run_id] = f"unreachable ({type(e).__name__})"
                continue
            states[run_id] = r.json().get("state", f"http {r.status_code}") if r.ok else f"http {r.status_code}"
        if all(states.get(run_id) in FINAL for run_id in run_ids):
            break
        time.sleep(5)
    return states


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default="http://localhost:8080")
    p.add_argument("--user", default="admin")
    p.add_argument("--password", required=True)
    p.add_argument("--dag", default="ingest_and_validate")
    p.add_argument("-n", type=int, default=16, help="concurrent requests")
    p.add_argument("--same-run-id", action="store_true", help="post one run id N times")
    p.add_argument("--first-day", default=None, help="ds of the first run (ingest_and_validate); default: N+1 days ago")
    p.add_argument("--wait", type=float, default=0, help="seconds to wait for the created runs to finish")
    a = p.parse_args(argv)

    url = a.url.rstrip("/")
    headers = {"Authorization": f"Bearer {token(url, a.user, a.password)}"}
    tag = uuid.uuid4().hex[:8]
    first_day = dt.date.fromisoformat(a.first_day) if a.first_day else dt.date.today() - dt.timedelta(days=a.n + 1)
    run_ids = [f"concurrent__{tag}" if a.same_run_id else f"concurrent__{tag}_{i:02d}" for i in range(a.n)]
    bodies = [body(a.dag, 0 if a.same_run_id else i, run_ids[i], first_day) for i in range(a.n)]

    t0 = time.perf_counter()
    results = fire(url, headers, a.dag, bodies)
    codes = collections.Counter(r["status"] for r in results)
    summary: dict = {
        "dag": a.dag,
        "n": a.n,
        "same_run_id": a.same_run_id,
        "status_codes": {str(k): v for k, v in sorted(codes.items())},
        "5xx": sum(v for k, v in codes.items() if k >= 500 or k == 0),
        "max_request_s": max(r["s"] for r in results),
        "burst_s": round(time.perf_counter() - t0, 2),
        "errors": [r["body"] for r in results if "body" in r][:3],
    }
    ok = summary["5xx"] == 0
    if a.wait > 0:
        print(json.dumps(summary), flush=True)  # the triggers' answers, before the (long) wait
        created = sorted({run_ids[i] for i, r in enumerate(results) if r["status"] == 200})
        t1 = time.perf_counter()
        states = wait_for_runs(url, headers, a.dag, created, a.wait)
        summary["runs_created"] = len(created)
        summary["run_states"] = dict(collections.Counter(states.values()))
        summary["runs_s"] = round(time.perf_counter() - t1, 1)
        ok = ok and all(s == "success" for s in states.values()) and len(states) == len(created)
    print(json.dumps(summary))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
