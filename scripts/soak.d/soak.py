#!/usr/bin/env python3
"""One configuration of scripts/soak.sh: the demo on a cache server of its own, under wrk load,
while the server is killed (SIGKILL), restarted, paused (SIGSTOP) and resumed (SIGCONT).

    soak.py CONFIG --demo PATH --dir TMPDIR [--secs 40] [--timeout-ms 500] [--slow-ms 20]

CONFIG is redis, tiered+redis, memcached, tiered+memcached or postgres. Prints a report and a
last line `ROW <json>` for the driver; exits 0 when every bound holds, 1 when one fails, 2 when
the run itself could not be made (a server or the demo did not start, the seed data was not
what this script expects).

Besides wrk (check.lua: non-2xx responses, wrong bodies, latency), three threads run:
- the prober: one request at a time, every 20 ms, on the response-cache route /users/1, the
  `#[cached]` function's route /fn/users/1, and the routes that show user 4 (whom the writer
  renames); it times every request, notes `x-cache`, and checks every body, for user 4 against
  the renames: a read that starts after a rename was answered must show it (or a later one);
- the writer: renames user 4 (`PUT /users/4`) before and during the kill, after the restart,
  during the pause and after it;
- the stats poller: the `find_user` hit counter of GET /cache/stats every 50 ms.
Recovery after the restart (and after SIGCONT) is the time from the restart (SIGCONT) to the
first prober response with `x-cache: HIT` on /users/1 and the first rise of the function's hit
counter, whichever comes later.
"""

import argparse
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servers import KINDS  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RECOVERY_BOUND_S = 2.0
# (offset in s from the start of the load, action)
FAULTS_AT = [(6.0, "kill"), (12.0, "restart"), (20.0, "pause"), (26.0, "resume")]
RENAMES_AT = [3.0, 8.0, 10.0, 15.0, 22.0, 24.0, 29.0, 33.0]

SEED = ["Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra"]
RENAMED = 4
SEED_NAME = SEED[RENAMED - 1]


def compact(value):
    return json.dumps(value, separators=(",", ":"))


def user(uid, name=None):
    first = SEED[uid - 1].split(" ")[0].lower()
    return {"id": uid, "name": name or SEED[uid - 1], "email": f"{first}@example.com"}


def posts(uid):
    return [{"id": i, "user_id": uid, "title": f"Post number {i}"} for i in (uid, uid + 4)]


def expected(path, name4=None):
    """The body the demo must answer on `path`, with user 4 named `name4` (the seed's name when
    None)."""
    if m := re.fullmatch(r"/(?:fn/)?users/(\d)", path):
        uid = int(m.group(1))
        return compact(user(uid, name4 if uid == RENAMED else None))
    if m := re.fullmatch(r"/users/(\d)/posts", path):
        return compact(posts(int(m.group(1))))
    if path == "/users":
        return compact([user(u, name4 if u == RENAMED else None) for u in range(1, 5)])
    raise ValueError(path)


# wrk's paths: response-cache routes (#[cached] behind them on a miss) and the function alone.
WRK_PATHS = ["/users/1", "/fn/users/1", "/users/2", "/fn/users/2", "/users/3/posts",
             "/users/4", "/fn/users/4", "/users", "/fn/users/3", "/users/3"]
# The prober's paths, in order, each round.
PROBE_PATHS = ["/users/1", "/fn/users/1", "/users/4", "/fn/users/4", "/users"]
SHOWS_USER4 = {"/users/4", "/fn/users/4", "/users"}


def write_expect_lua(path, paths=WRK_PATHS, bodies=None):
    """The expectations check.lua loads: wrk's paths, the body of each (`bodies` overrides, for
    the self-test) and which of them show user 4."""
    def lua_str(s):
        return "[==[" + s + "]==]"
    bodies = dict({p: expected(p) for p in paths if p in WRK_PATHS}, **(bodies or {}))
    lines = ["return {", "  seed_name = " + lua_str(SEED_NAME) + ",",
             "  paths = {" + ", ".join(lua_str(p) for p in paths) + "},", "  bodies = {"]
    lines += [f"    [ {lua_str(p)} ] = {lua_str(bodies[p])}," for p in paths]
    lines += ["  },", "  renamed = {"]
    lines += [f"    [ {lua_str(p)} ] = true," for p in paths if p in SHOWS_USER4]
    lines += ["  },", "}"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def seq_of_name(name):
    """0 for the seed's name, N for `soak-N`, None for anything else."""
    if name == SEED_NAME:
        return 0
    m = re.fullmatch(r"soak-(\d+)", name or "")
    return int(m.group(1)) if m else None


def name4_in(path, body):
    """The name of user 4 a well-formed body shows, or None."""
    try:
        value = json.loads(body)
    except ValueError:
        return None
    if path == "/users":
        value = next((u for u in value if isinstance(u, dict) and u.get("id") == RENAMED), None)
    return value.get("name") if isinstance(value, dict) else None


class Client:
    """One keep-alive HTTP/1.1 connection to the demo; reconnects after an error."""

    def __init__(self, addr):
        self.host, port = addr.rsplit(":", 1)
        self.port = int(port)
        self.conn = None

    def call(self, method, path, body=None):
        """(status, headers, body text); status 0 with the error text when the request
        failed."""
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                headers = {"content-type": "application/json"} if body is not None else {}
                self.conn.request(method, path, body=body, headers=headers)
                r = self.conn.getresponse()
                data = r.read().decode("utf-8", "replace")
                return r.status, {k.lower(): v for k, v in r.getheaders()}, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                # A keep-alive connection the server closed while idle: once more, fresh.
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    return 0, {}, f"{type(e).__name__}: {e}"
            except OSError as e:
                self.conn.close()
                self.conn = None
                return 0, {}, f"{type(e).__name__}: {e}"
        return 0, {}, "unreachable"


class Run:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.t0 = None
        self.events = []  # (t, action)
        self.reads = []  # (t_start, t_end, path, status, x-cache, ok, detail)
        self.writes = []  # (seq, t_start, t_end, status)
        self.stats = []  # (t, hits, misses)
        self.problems = []  # text lines
        self.server = None
        self.demo = None
        self.wrk = None
        self.script_error = None

    def now(self):
        return time.monotonic() - self.t0

    # --- processes ---------------------------------------------------------------------------

    def start_server(self):
        kind = self.args.config.removeprefix("tiered+")
        self.server = KINDS[kind](os.path.join(self.args.dir, kind))
        self.server.start()

    def cache_url(self):
        sep = "?"
        url = self.server.url()
        if self.args.config.startswith("tiered+"):
            url = "tiered+" + url
        return f"{url}{sep}timeout_ms={self.args.timeout_ms}"

    def start_demo(self):
        env = dict(os.environ, BIND="127.0.0.1:0", SLOW_MS=str(self.args.slow_ms),
                   RUST_LOG="warn")
        env.pop("CACHE_URL", None)
        if self.server is not None:
            env["CACHE_URL"] = self.cache_url()
        self.demo_log = os.path.join(self.args.dir, "demo.log")
        log = open(self.demo_log, "wb")
        self.demo = subprocess.Popen([self.args.demo], env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=log, start_new_session=True)
        log.close()
        line = b""
        deadline = time.monotonic() + 120
        # The demo prints `listening on http://ADDR` once it has warmed the cache.
        while time.monotonic() < deadline:
            line = self.demo.stdout.readline()
            if not line:
                break
            if line.startswith(b"listening on http://"):
                self.addr = line.decode().strip().removeprefix("listening on http://")
                threading.Thread(target=self.demo.stdout.read, daemon=True).start()
                return
        raise RuntimeError(f"the demo did not start ({line!r}); log:\n{tail(self.demo_log)}")

    def start_wrk(self, secs, out):
        a = self.args
        env = dict(os.environ, EXPECT=os.path.join(a.dir, "expect.lua"))
        self.wrk = subprocess.Popen(
            ["wrk", f"-t{a.conns}", f"-c{a.conns}", f"-d{secs}s", "--timeout", "30s",
             "-s", os.path.join(HERE, "check.lua"), f"http://{self.addr}"],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def cleanup(self):
        if self.wrk is not None and self.wrk.poll() is None:
            self.wrk.kill()
            self.wrk.wait()
        if self.server is not None:
            self.server.resume()
        if self.demo is not None and self.demo.poll() is None:
            # Ctrl-C: the demo shuts down gracefully; killed if it has not within 10 s.
            self.demo.send_signal(signal.SIGINT)
            try:
                self.demo.wait(10)
            except subprocess.TimeoutExpired:
                self.demo.kill()
                self.demo.wait()
        if self.server is not None:
            self.server.stop()

    # --- the threads -------------------------------------------------------------------------

    def prober(self):
        client = Client(self.addr)
        while not self.stop.is_set():
            begin = time.monotonic()
            for path in PROBE_PATHS:
                ts = self.now()
                status, headers, body = client.call("GET", path)
                te = self.now()
                ok, detail = self.check_read(path, status, body, ts, te)
                with self.lock:
                    self.reads.append((ts, te, path, status, headers.get("x-cache", ""), ok,
                                       detail))
            time.sleep(max(0.0, 0.02 - (time.monotonic() - begin)))

    def check_read(self, path, status, body, ts, te):
        if status == 0:
            return False, f"request failed: {body}"
        if not 200 <= status < 300:
            return False, f"status {status}: {body[:120]}"
        if path not in SHOWS_USER4:
            return body == expected(path), body[:160]
        name = name4_in(path, body)
        seq = seq_of_name(name)
        if seq is None or body != expected(path, name if seq else None):
            return False, f"unexpected body: {body[:160]}"
        with self.lock:
            lo = max((s for s, _, t_end, st in self.writes if 200 <= st < 300 and t_end < ts),
                     default=0)
            hi = max((s for s, t_start, _, _ in self.writes if t_start < te), default=0)
        if not lo <= seq <= hi:
            return False, f"shows {name!r}; expected soak-{lo} or later (up to soak-{hi})"
        return True, name

    def writer(self):
        client = Client(self.addr)
        for seq, at in enumerate(RENAMES_AT, start=1):
            if self.stop.wait(max(0.0, at - self.now())):
                return
            with self.lock:
                self.writes.append((seq, self.now(), float("inf"), 0))
            status, _, body = client.call("PUT", f"/users/{RENAMED}",
                                          json.dumps({"name": f"soak-{seq}"}))
            t_end = self.now()
            with self.lock:
                i = next(i for i, w in enumerate(self.writes) if w[0] == seq)
                self.writes[i] = (seq, self.writes[i][1], t_end, status)
            if not 200 <= status < 300:
                self.problem(f"{t_end:6.2f}s PUT /users/{RENAMED} soak-{seq}: status {status} "
                             f"{body[:120]}")

    def poller(self):
        client = Client(self.addr)
        while not self.stop.is_set():
            t = self.now()
            status, _, body = client.call("GET", "/cache/stats")
            if status == 200:
                try:
                    functions = json.loads(body)["functions"]
                    f = next(f for f in functions if f["name"].endswith("find_user"))
                    with self.lock:
                        self.stats.append((t, f["hits"], f["misses"]))
                except (ValueError, KeyError, StopIteration) as e:
                    self.problem(f"/cache/stats has no find_user counters ({e}): {body[:200]}")
                    return
            self.stop.wait(0.05)

    def problem(self, text):
        with self.lock:
            self.problems.append(text)

    def faults(self):
        for at, action in FAULTS_AT:
            if self.stop.wait(max(0.0, at - self.now())):
                return
            t = self.now()
            try:
                getattr(self.server, action)()
            except RuntimeError as e:
                self.script_error = f"{action} at {t:.2f}s failed: {e}"
                return
            with self.lock:
                # A restart counts from the spawn of the new process, not from when it is ready.
                self.events.append((t, action, self.now()))

    # --- the run -----------------------------------------------------------------------------

    def baseline(self):
        """Every route answers what this script expects before any fault (else the script, not
        the cache, is wrong)."""
        client = Client(self.addr)
        for path in sorted(set(WRK_PATHS + PROBE_PATHS)):
            status, _, body = client.call("GET", path)
            if status != 200 or body != expected(path):
                raise RuntimeError(f"before any fault, GET {path} answered {status} {body[:200]!r}; "
                                   f"this script expects {expected(path)!r}")

    def final_check(self):
        """After the run: every route shows the last rename."""
        client = Client(self.addr)
        with self.lock:
            last = max((s for s, _, _, st in self.writes if 200 <= st < 300), default=0)
        name = f"soak-{last}" if last else None
        wrong = 0
        for path in sorted(set(WRK_PATHS + PROBE_PATHS)):
            for _ in range(2):  # a miss, then (on the cached routes) a hit
                status, headers, body = client.call("GET", path)
                if status != 200 or body != expected(path, name):
                    wrong += 1
                    self.problem(f"after the run: GET {path} ({headers.get('x-cache', '-')}) "
                                 f"answered {status} {body[:160]}; expected name {name or SEED_NAME}")
        return wrong

    def execute(self):
        a = self.args
        write_expect_lua(os.path.join(a.dir, "expect.lua"))
        self.start_server()
        self.start_demo()
        self.baseline()
        wrk_out = open(os.path.join(a.dir, "wrk.out"), "w+")
        self.t0 = time.monotonic()
        self.start_wrk(a.secs, wrk_out)
        threads = [threading.Thread(target=f, daemon=True)
                   for f in (self.prober, self.writer, self.poller, self.faults)]
        for t in threads:
            t.start()
        self.wrk.wait()
        self.stop.set()
        for t in threads:
            t.join(60)
        wrk_out.seek(0)
        wrk_text = wrk_out.read()
        wrk_out.close()
        if self.script_error:
            raise RuntimeError(self.script_error)
        final_wrong = self.final_check()
        return self.report(wrk_text, final_wrong)

    def self_test(self):
        """Checks the checkers on the demo with its in-memory cache, no faults: wrk must count
        a 404 path as non-2xx and a path whose expected body was altered as wrong (and nothing
        else, with user 4 renamed meanwhile); the prober's check must pass the latest name and
        flag an older one. Exits 0 when the instrument catches what it must."""
        a = self.args
        self.start_demo()
        self.baseline()
        self.t0 = time.monotonic()
        failures = []
        client = Client(self.addr)
        # A rename the prober's check and wrk's must both accept.
        ts = self.now()
        status, _, _ = client.call("PUT", f"/users/{RENAMED}", json.dumps({"name": "soak-1"}))
        self.writes.append((1, ts, self.now(), status))
        paths = WRK_PATHS + ["/users/99"]
        altered = expected("/users/2").replace("Alan", "Alain")
        write_expect_lua(os.path.join(a.dir, "expect.lua"), paths,
                         {"/users/99": "", "/users/2": altered})
        with open(os.path.join(a.dir, "wrk.out"), "w+") as out:
            self.start_wrk(3, out)
            self.wrk.wait()
            out.seek(0)
            text = out.read()
        m = re.search(r"SOAK requests=(\d+) non2xx=(\d+) wrong=(\d+)", text)
        if not m:
            failures.append(f"wrk reported nothing usable:\n{text}")
        else:
            req, non2xx, wrong = map(int, m.groups())
            share = req / len(paths)
            print(f"   wrk: {req} responses, non-2xx {non2xx}, wrong {wrong} "
                  f"(each of the {len(paths)} paths about {share:.0f} times)")
            if not 0.5 * share < non2xx < 1.5 * share:
                failures.append(f"wrk: {non2xx} non-2xx, expected about {share:.0f} (/users/99)")
            if not 0.5 * share < wrong < 1.5 * share:
                failures.append(f"wrk: {wrong} wrong bodies, expected about {share:.0f} (/users/2)")
        for path in sorted(SHOWS_USER4):
            ts = self.now()
            status, _, body = client.call("GET", path)
            ok, detail = self.check_read(path, status, body, ts, self.now())
            if not ok:
                failures.append(f"prober: {path} after the rename flagged: {detail}")
            # As if a later rename had been answered before this read: now it is stale.
            self.writes.append((2, -2.0, -1.0, 200))
            ok, detail = self.check_read(path, status, body, ts, self.now())
            self.writes.pop()
            if ok:
                failures.append(f"prober: a stale {path} passed: {body[:120]}")
        for f in failures:
            print(f"   ! {f}")
        verdict = "ok" if not failures else "FAIL: the instrument"
        print("ROW " + json.dumps({"config": "self-test", "verdict": verdict}), flush=True)
        return 0 if not failures else 1

    # --- the report --------------------------------------------------------------------------

    def recovery(self, action):
        """Seconds from `action` (restart, resume) until both kinds of hits are seen again;
        None when they are not before the next fault (or the end)."""
        ev = next((e for e in self.events if e[1] == action), None)
        if ev is None:
            return None
        t_ev = ev[0]
        later = [e[0] for e in self.events if e[0] > t_ev]
        until = min(later) if later else float("inf")
        route = next((te for ts, te, path, _, xc, _, _ in self.reads
                      if path == "/users/1" and ts >= t_ev and xc == "HIT" and te < until), None)
        fn = None
        for (p0, h0, _), (p1, h1, _) in zip(self.stats, self.stats[1:]):
            if p0 >= t_ev and h1 > h0 and p1 < until:
                fn = p1
                break
        if route is None or fn is None:
            return None
        return max(route, fn) - t_ev

    def report(self, wrk_text, final_wrong):
        a = self.args
        m = re.search(r"SOAK requests=(\d+) non2xx=(\d+) wrong=(\d+) hits=(\d+) socket_errors=(\d+) "
                      r"timeouts=(\d+) max_us=(\d+) p99_us=(\d+)", wrk_text)
        if not m:
            raise RuntimeError(f"wrk reported nothing usable:\n{wrk_text}")
        w_req, w_non2xx, w_wrong, w_hits, w_sock, w_to, w_max, w_p99 = map(int, m.groups())
        for line in wrk_text.splitlines():
            if line.startswith("SAMPLE "):
                self.problems.append("wrk: " + line.removeprefix("SAMPLE "))
        p_bad_status = [r for r in self.reads if not 200 <= r[3] < 300]
        p_wrong = [r for r in self.reads if 200 <= r[3] < 300 and not r[5]]
        for ts, te, path, status, xc, ok, detail in (p_bad_status + p_wrong)[:12]:
            self.problems.append(f"prober {ts:6.2f}s {path} ({xc or '-'}): {detail}")
        w_bad = [w for w in self.writes if not 200 <= w[3] < 300]
        p_max = max((te - ts for ts, te, *_ in self.reads), default=0.0)
        slowest = sorted(self.reads, key=lambda r: r[0] - r[1])[:5]
        put_max = max((w[2] - w[1] for w in self.writes if w[2] != float("inf")), default=0.0)
        bound_ms = a.timeout_ms + 100
        max_ms = max(w_max / 1000, p_max * 1000)
        rec_restart = self.recovery("restart")
        rec_resume = self.recovery("resume")
        non2xx = w_non2xx + w_sock + w_to + len(p_bad_status) + len(w_bad)
        wrong = w_wrong + len(p_wrong) + final_wrong
        fails = []
        if non2xx:
            fails.append("errors")
        if wrong:
            fails.append("wrong values")
        if max_ms > bound_ms:
            fails.append("slow")
        if rec_restart is None or rec_restart > RECOVERY_BOUND_S:
            fails.append("recovery after restart")
        if rec_resume is None or rec_resume > RECOVERY_BOUND_S:
            fails.append("recovery after pause")
        print(f"== {a.config}: CACHE_URL={self.cache_url()} SLOW_MS={a.slow_ms}, "
              f"wrk -t{a.conns} -c{a.conns} -d{a.secs}s")
        for t, action, t_done in self.events:
            print(f"   {t:6.2f}s {action}" + (f" (ready at {t_done:.2f}s)" if action == "restart" else ""))
        print(f"   wrk: {w_req} responses ({w_hits} x-cache HIT), non-2xx {w_non2xx}, socket errors "
              f"{w_sock}, timeouts {w_to}, wrong bodies {w_wrong}, max {w_max / 1000:.1f} ms, "
              f"p99 {w_p99 / 1000:.1f} ms")
        print(f"   prober: {len(self.reads)} reads, failed {len(p_bad_status)}, wrong {len(p_wrong)}, "
              f"max {p_max * 1000:.1f} ms; slowest: "
              + ", ".join(f"{path} at {ts:.2f}s {1000 * (te - ts):.0f} ms ({xc or '-'})"
                          for ts, te, path, _, xc, _, _ in slowest))
        first_fault = min((e[0] for e in self.events), default=float("inf"))
        calm = max((te - ts for ts, te, *_ in self.reads if te < first_fault), default=0.0)
        print(f"   prober before the first fault: max {calm * 1000:.1f} ms"
              + (" (over the bound with no fault yet: a stall of the machine or of the demo)"
                 if calm * 1000 > bound_ms else ""))
        print(f"   writer: {len(self.writes)} renames, failed {len(w_bad)}, slowest "
              f"{put_max * 1000:.0f} ms; after the run: {final_wrong} wrong reads")
        print(f"   recovery (hits on /users/1 and of find_user): after restart "
              f"{fmt_s(rec_restart)}, after SIGCONT {fmt_s(rec_resume)}")
        for p in self.problems[:30]:
            print(f"   ! {p}")
        row = {"config": a.config, "requests": w_req + len(self.reads) + len(self.writes),
               "non2xx": non2xx, "wrong": wrong, "max_ms": round(max_ms, 1), "bound_ms": bound_ms,
               "put_max_ms": round(put_max * 1000), "rec_restart": rec_restart,
               "rec_pause": rec_resume, "verdict": "ok" if not fails else "FAIL: " + ", ".join(fails)}
        print("ROW " + json.dumps(row), flush=True)
        return 0 if not fails else 1


def fmt_s(v):
    return "none seen" if v is None else f"{v:.2f} s"


def tail(path, n=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config", choices=["redis", "tiered+redis", "memcached", "tiered+memcached",
                                      "postgres", "self-test"])
    p.add_argument("--demo", required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--secs", type=int, default=40)
    p.add_argument("--timeout-ms", type=int, default=500)
    p.add_argument("--slow-ms", type=int, default=20)
    p.add_argument("--conns", type=int, default=4)
    args = p.parse_args()
    if args.secs < 36:
        p.error("--secs must be at least 36 (the fault schedule ends at 33 s)")
    os.makedirs(args.dir, exist_ok=True)
    run = Run(args)

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        code = run.self_test() if args.config == "self-test" else run.execute()
    except RuntimeError as e:
        print(f"== {args.config}: the run could not be made: {e}", flush=True)
        print("ROW " + json.dumps({"config": args.config, "verdict": "NOT RUN"}), flush=True)
        code = 2
    finally:
        run.cleanup()
    sys.exit(code)


if __name__ == "__main__":
    main()
