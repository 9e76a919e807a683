#!/usr/bin/env python3
"""Steady mixed load against a running Doorward, with RSS sampling.

Python 3.9+ standard library only (asyncio streams, HTTP/1.1 keep-alive).
Started by tests/soak/run.sh; see that file for the knobs.

Open loop: an operation starts every 1/RATE seconds whatever the previous
ones are doing (so a slow server shows up as latency, not as a lower rate),
with at most CONCURRENCY in flight; a start that finds no free slot is counted
as `skipped` instead of queueing silently.

Every REPORT seconds: requests, answers by status, unexpected answers (an
operation's expected statuses are listed with it), latency p50/p95/p99 and the
server's RSS. At the end: the totals and the RSS verdict (see `rss_verdict`).
Exit status 0 on PASS, 1 on FAIL.
"""

import argparse
import asyncio
import json
import random
import sys
import time
from collections import Counter

PASSWORD = "soak correct horse battery"


# ---------------------------------------------------------------- HTTP/1.1


class Http:
    """A small keep-alive connection pool to one host:port."""

    def __init__(self, host, port, timeout):
        self.host, self.port, self.timeout = host, port, timeout
        self.idle = []

    async def _conn(self):
        if self.idle:
            return self.idle.pop()
        return await asyncio.open_connection(self.host, self.port)

    async def request(self, method, path, body=None, token=None, form=None):
        """(status, headers, body bytes). Raises on connection trouble."""
        headers = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                   "User-Agent: doorward-soak"]
        payload = b""
        if body is not None:
            payload = json.dumps(body).encode()
            headers.append("Content-Type: application/json")
        elif form is not None:
            payload = form.encode()
            headers.append("Content-Type: application/x-www-form-urlencoded")
        if payload or method == "POST":
            headers.append(f"Content-Length: {len(payload)}")
        if token:
            headers.append(f"Authorization: Bearer {token}")
        raw = ("\r\n".join(headers) + "\r\n\r\n").encode() + payload
        reader, writer = await self._conn()
        try:
            writer.write(raw)
            result = await asyncio.wait_for(self._read(reader), self.timeout)
        except BaseException:
            writer.close()
            raise
        status, hdrs, data = result
        if hdrs.get("connection", "").lower() == "close":
            writer.close()
        else:
            self.idle.append((reader, writer))
        return result

    @staticmethod
    async def _read(reader):
        line = await reader.readline()
        if not line:
            raise ConnectionError("connection closed")
        status = int(line.split()[1])
        hdrs = {}
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            k, _, v = line.decode("latin-1").partition(":")
            hdrs[k.strip().lower()] = v.strip()
        if hdrs.get("transfer-encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int((await reader.readline()).split(b";")[0], 16)
                if size == 0:
                    await reader.readline()
                    break
                data += await reader.readexactly(size)
                await reader.readline()
        else:
            data = await reader.readexactly(int(hdrs.get("content-length", "0")))
        return status, hdrs, data

    def close(self):
        for _, w in self.idle:
            w.close()
        self.idle.clear()


# ---------------------------------------------------------------- the users


class User:
    def __init__(self, email):
        self.email = email
        self.password = PASSWORD
        self.access = None
        self.refresh = None
        self.token_at = 0.0
        self.busy = False


class Pool:
    """Signed-up users; an operation borrows one (no two operations on one
    user at a time, so refresh rotation stays well defined)."""

    def __init__(self, cap):
        self.users = []
        self.cap = cap

    def add(self, user):
        self.users.append(user)
        if len(self.users) > self.cap:
            # Forget an idle old one (its rows stay in the database).
            for i, u in enumerate(self.users):
                if not u.busy:
                    del self.users[i]
                    break

    def borrow(self, want_session):
        candidates = [u for u in self.users if not u.busy and (u.access is not None) == want_session]
        if not candidates:
            return None
        u = random.choice(candidates)
        u.busy = True
        return u


# ---------------------------------------------------------------- operations


class Soak:
    def __init__(self, args, http):
        self.args = args
        self.http = http
        self.pool = Pool(args.pool)
        self.seq = 0
        self.run_id = f"{int(time.time())}{random.randrange(1000):03d}"
        # Per interval and overall.
        self.lat, self.all_lat = [], []
        self.status, self.all_status = Counter(), Counter()
        self.bad, self.all_bad = Counter(), Counter()
        self.ops, self.all_ops = Counter(), Counter()
        self.skipped = 0
        self.all_skipped = 0

    def new_email(self):
        self.seq += 1
        return f"soak{self.run_id}-{self.seq}@example.com"

    async def call(self, op, expected, method, path, **kw):
        t0 = time.perf_counter()
        try:
            status, _, data = await self.http.request(method, path, **kw)
        except Exception as e:  # noqa: BLE001 - any transport failure counts
            status, data = f"io:{type(e).__name__}", b""
        ms = (time.perf_counter() - t0) * 1000.0
        self.lat.append(ms)
        self.status[status] += 1
        self.ops[op] += 1
        if status not in expected:
            self.bad[f"{op} {status}"] += 1
        return status, data

    def take_tokens(self, user, data):
        body = json.loads(data)
        user.access, user.refresh = body["access_token"], body["refresh_token"]
        user.token_at = time.monotonic()

    async def op_signup(self):
        user = User(self.new_email())
        status, data = await self.call("signup", {201}, "POST", "/v1/signup",
                                       body={"email": user.email, "password": user.password})
        if status == 201:
            self.take_tokens(user, data)
            self.pool.add(user)

    async def with_user(self, want_session, fn):
        user = self.pool.borrow(want_session)
        if user is None:
            return await self.op_signup()
        try:
            # Access tokens live 15 minutes: refresh well before that.
            if want_session and time.monotonic() - user.token_at > 600:
                await self.op_refresh_user(user)
                if user.access is None:
                    return
            await fn(user)
        finally:
            user.busy = False

    async def op_login(self):
        async def go(user):
            status, data = await self.call("login", {200}, "POST", "/v1/login",
                                           body={"email": user.email, "password": user.password})
            if status == 200:
                self.take_tokens(user, data)
        # Prefer users without a session; else a new session for one who has.
        if any(u.access is None and not u.busy for u in self.pool.users):
            await self.with_user(False, go)
        else:
            await self.with_user(True, go)

    async def op_wrong_login(self):
        # 401, or 429 once the account's failure budget is spent (throttling
        # is part of what runs here).
        if random.random() < 0.5 and self.pool.users:
            email = random.choice(self.pool.users).email
        else:
            email = self.new_email()
        await self.call("wrong_login", {401, 429}, "POST", "/v1/login",
                        body={"email": email, "password": "not the password 1234"})

    async def op_me(self):
        async def go(user):
            await self.call("me", {200}, "GET", "/v1/me", token=user.access)
        await self.with_user(True, go)

    async def op_refresh_user(self, user):
        status, data = await self.call("refresh", {200}, "POST", "/v1/refresh",
                                       body={"refresh_token": user.refresh})
        if status == 200:
            self.take_tokens(user, data)
        else:
            user.access = user.refresh = None

    async def op_refresh(self):
        await self.with_user(True, self.op_refresh_user)

    async def op_logout(self):
        async def go(user):
            await self.call("logout", {204}, "POST", "/v1/logout", token=user.access, body={})
            user.access = user.refresh = None
        await self.with_user(True, go)

    async def op_logout_all(self):
        async def go(user):
            await self.call("logout_all", {204}, "POST", "/v1/logout", token=user.access,
                            body={"scope": "global"})
            user.access = user.refresh = None
        await self.with_user(True, go)

    async def op_forgot(self):
        email = random.choice(self.pool.users).email if self.pool.users and random.random() < 0.7 \
            else self.new_email()
        await self.call("forgot", {202}, "POST", "/v1/password/forgot", body={"email": email})

    async def op_change_password(self):
        async def go(user):
            new = f"soak new password {random.randrange(10**9)}"
            status, _ = await self.call("change_password", {204}, "POST", "/v1/me/password",
                                        token=user.access,
                                        body={"current_password": user.password, "new_password": new})
            if status == 204:
                user.password = new
        await self.with_user(True, go)

    async def op_jwks(self):
        await self.call("jwks", {200}, "GET", "/.well-known/jwks.json")

    async def op_page(self):
        path = random.choice(["/login", "/signup", "/forgot-password"])
        await self.call("page", {200}, "GET", path)

    # name, weight (share of the steady rate)
    MIX = [
        ("signup", 1.0), ("login", 2.0), ("wrong_login", 1.0), ("me", 6.0),
        ("refresh", 3.0), ("logout", 1.0), ("logout_all", 0.5), ("forgot", 1.0),
        ("change_password", 0.5), ("jwks", 3.0), ("page", 2.0),
    ]


# ---------------------------------------------------------------- measuring


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def rss_verdict(samples, seconds, warmup, factor, slack_kib):
    """samples: [(t, kib)]. After the warm-up, split the rest into thirds: the
    last third's peak must stay within factor x the first third's peak plus
    slack. Peaks, not means: RSS moves in steps (arena growth, SQLite cache
    pages), and a leak raises the peaks of every later third."""
    after = [(t, k) for t, k in samples if t >= warmup]
    if len(after) < 6:
        return False, "too few RSS samples after the warm-up", {}
    span = (seconds - warmup) / 3.0
    first = [k for t, k in after if t < warmup + span]
    last = [k for t, k in after if t >= warmup + 2 * span]
    if not first or not last:
        return False, "a third without samples", {}
    f, l = max(first), max(last)
    limit = f * factor + slack_kib
    # Least-squares slope over the post-warm-up samples, for the record.
    n = len(after)
    mt = sum(t for t, _ in after) / n
    mk = sum(k for _, k in after) / n
    den = sum((t - mt) ** 2 for t, _ in after) or 1.0
    slope = sum((t - mt) * (k - mk) for t, k in after) / den * 60.0
    figures = {"first_third_max_kib": f, "last_third_max_kib": l, "limit_kib": round(limit),
               "slope_kib_per_min": round(slope, 1), "max_kib": max(k for _, k in samples)}
    return l <= limit, f"last-third max {l} KiB <= {factor} x {f} + {slack_kib} = {round(limit)} KiB", figures


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True, help="the server's pid, for RSS")
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--rate", type=float, default=20.0, help="operations per second")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--report", type=float, default=30.0)
    ap.add_argument("--warmup", type=float, default=None, help="default: 20%% of --seconds")
    ap.add_argument("--rss-factor", type=float, default=1.10)
    ap.add_argument("--rss-slack-kib", type=int, default=4096)
    ap.add_argument("--pool", type=int, default=400)
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--json", help="write the summary here too")
    args = ap.parse_args()
    warmup = args.warmup if args.warmup is not None else 0.2 * args.seconds

    http = Http(args.host, args.port, args.timeout)
    soak = Soak(args, http)
    names = [n for n, _ in Soak.MIX]
    weights = [w for _, w in Soak.MIX]
    slots = asyncio.Semaphore(args.concurrency)
    samples = []
    tasks = set()
    start = time.monotonic()

    async def run_op(name):
        try:
            await getattr(soak, f"op_{name}")()
        except Exception as e:  # noqa: BLE001 - a bug here must not stop the soak
            soak.bad[f"{name} client:{type(e).__name__}"] += 1
        finally:
            slots.release()

    async def sampler():
        while True:
            k = rss_kib(args.pid)
            if k is not None:
                samples.append((time.monotonic() - start, k))
            await asyncio.sleep(1.0)

    def report(final=False):
        t = time.monotonic() - start
        lat = soak.all_lat if final else soak.lat
        st = soak.all_status if final else soak.status
        bad = soak.all_bad if final else soak.bad
        skipped = soak.all_skipped if final else soak.skipped
        rss = samples[-1][1] if samples else None
        label = "TOTAL" if final else f"t={t:6.0f}s"
        statuses = " ".join(f"{k}:{v}" for k, v in sorted(st.items(), key=lambda kv: str(kv[0])))
        print(f"{label} requests={len(lat)} ({len(lat) / max(t if final else args.report, 1e-9):.1f}/s) "
              f"p50={pct(lat, 50):.1f}ms p95={pct(lat, 95):.1f}ms p99={pct(lat, 99):.1f}ms "
              f"rss={rss / 1024 if rss else float('nan'):.1f}MiB skipped={skipped}", flush=True)
        print(f"    status {statuses}", flush=True)
        if bad:
            print("    UNEXPECTED " + " ".join(f"[{k}]:{v}" for k, v in sorted(bad.items())), flush=True)
        if not final:
            soak.all_lat.extend(soak.lat)
            soak.all_status.update(soak.status)
            soak.all_bad.update(soak.bad)
            soak.all_ops.update(soak.ops)
            soak.all_skipped += soak.skipped
            soak.lat, soak.status, soak.bad, soak.ops, soak.skipped = [], Counter(), Counter(), Counter(), 0

    sampler_task = asyncio.ensure_future(sampler())
    interval = 1.0 / args.rate
    next_at = start
    next_report = start + args.report
    end = start + args.seconds
    while True:
        now = time.monotonic()
        if now >= end:
            break
        if now >= next_report:
            report()
            next_report += args.report
        if now >= next_at:
            next_at += interval
            if slots.locked():
                soak.skipped += 1
                continue
            await slots.acquire()
            task = asyncio.ensure_future(run_op(random.choices(names, weights)[0]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            continue
        await asyncio.sleep(min(next_at, next_report, end) - now)
    if tasks:
        await asyncio.wait(tasks, timeout=args.timeout)
    report()
    sampler_task.cancel()
    http.close()

    ok_rss, why, figures = rss_verdict(samples, args.seconds, warmup, args.rss_factor, args.rss_slack_kib)
    print(f"--- summary: {args.seconds:.0f}s at {args.rate}/s, warm-up {warmup:.0f}s")
    report(final=True)
    print("    operations " + " ".join(f"{k}:{v}" for k, v in sorted(soak.all_ops.items())))
    first_rss = samples[0][1] if samples else 0
    print(f"    rss start {first_rss / 1024:.1f}MiB, peak {figures.get('max_kib', 0) / 1024:.1f}MiB, "
          f"post-warm-up slope {figures.get('slope_kib_per_min', 'n/a')} KiB/min")
    errors = sum(soak.all_bad.values())
    verdict = ok_rss and errors == 0
    print(f"RSS: {'PASS' if ok_rss else 'FAIL'} ({why})")
    print(f"unexpected answers: {errors}")
    print("SOAK " + ("PASS" if verdict else "FAIL"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"seconds": args.seconds, "rate": args.rate, "requests": len(soak.all_lat),
                       "p50_ms": pct(soak.all_lat, 50), "p95_ms": pct(soak.all_lat, 95),
                       "p99_ms": pct(soak.all_lat, 99),
                       "status": {str(k): v for k, v in soak.all_status.items()},
                       "unexpected": dict(soak.all_bad), "rss": figures, "pass": verdict}, f, indent=2)
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
