#!/usr/bin/env python3
"""Soak load for the reference server (driven by scripts/soak.sh; not in CI).

Mixed load for SOAK_SECONDS against http://ADDR: API reads and writes over a flood of distinct
tenants, deliberate errors (/api/fail?status=500 and 400, unknown paths), slow requests, a
/metrics scrape every 5 s, 8 dashboard event streams, and a slowloris. Every 30 s it prints the
server's RSS and open descriptors; at the end the API p99, status counts, the 5xx that were not
asked for, and the descriptors after the clients left.
"""
import json, os, random, socket, sys, threading, time, urllib.request, urllib.error

addr, pid, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
host, port = addr.rsplit(":", 1)
port = int(port)
stop = threading.Event()
lock = threading.Lock()
latencies, statuses, unasked_5xx = [], {}, []


def rss_kib():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fds():
    return len(os.listdir(f"/proc/{pid}/fd"))


def request(method, path, body=None, asked_5xx=False, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://{addr}{path}", data=data, method=method,
                                 headers={"content-type": "application/json"} if data else {})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as res:
            res.read()
            status = res.status
    except urllib.error.HTTPError as e:
        e.read()
        status = e.code
    except Exception as e:  # connection errors count as their own class
        status = type(e).__name__
    elapsed = time.monotonic() - started
    with lock:
        statuses[status] = statuses.get(status, 0) + 1
        if path.startswith("/api") and not path.startswith("/api/slow"):
            latencies.append(elapsed)
        if isinstance(status, int) and status >= 500 and not asked_5xx:
            unasked_5xx.append((path, status))
    return status


def api_worker(seed):
    rng = random.Random(seed)
    n = 0
    while not stop.is_set():
        n += 1
        tenant = f"t{seed}-{rng.randrange(1_000_000)}"
        r = rng.random()
        if r < 0.35:
            request("GET", f"/api/orgs/{tenant}/properties")
        elif r < 0.55:
            request("POST", f"/api/orgs/{tenant}/properties",
                    {"name": f"p{n}", "address": "1 Main St", "units": 3})
        elif r < 0.65:
            request("GET", f"/api/fail?status={rng.choice([400, 500])}", asked_5xx=True)
        elif r < 0.80:
            request("GET", f"/no/such/path/{rng.randrange(10**9)}/x{n}")
        elif r < 0.85:
            request("GET", "/api/slow?ms=300")
        else:
            request("GET", "/health/ping")


def scraper():
    while not stop.wait(5):
        request("GET", "/metrics")


def dashboard():
    while not stop.is_set():
        try:
            with socket.create_connection((host, port), timeout=70) as s:
                s.sendall(b"GET /metrics/dashboard/stream HTTP/1.1\r\nHost: localhost\r\n"
                          b"Accept: text/event-stream\r\n\r\n")
                while not stop.is_set() and s.recv(65536):
                    pass
        except OSError:
            time.sleep(1)


def slowloris(count=200):
    head = b"GET /health/ping HTTP/1.1\r\nHost: localhost\r\nX-Slow: "
    conns = []
    while not stop.is_set():
        while len(conns) < count:
            try:
                conns.append([socket.create_connection((host, port), timeout=5), 0])
            except OSError:
                break
        alive = []
        for c in conns:
            s, sent = c
            try:
                s.sendall(bytes([head[sent] if sent < len(head) else ord("a")]))
                c[1] += 1
                alive.append(c)
            except OSError:
                s.close()
        conns = alive
        stop.wait(1)
    for s, _ in conns:
        s.close()


baseline_fds = fds()
print(f"baseline: rss {rss_kib()} KiB, fds {baseline_fds}", flush=True)
threads = [threading.Thread(target=api_worker, args=(i,)) for i in range(6)]
threads += [threading.Thread(target=scraper), threading.Thread(target=slowloris)]
threads += [threading.Thread(target=dashboard) for _ in range(8)]
for t in threads:
    t.daemon = True
    t.start()
started = time.monotonic()
rss = []
while time.monotonic() - started < seconds:
    time.sleep(min(30, max(0, seconds - (time.monotonic() - started))))
    rss.append(rss_kib())
    print(f"t={int(time.monotonic() - started):4d}s rss {rss[-1]} KiB fds {fds()} "
          f"requests {sum(statuses.values())}", flush=True)
stop.set()
for t in threads:
    t.join(timeout=75)
time.sleep(5)
lat = sorted(latencies)
p99 = lat[int(len(lat) * 0.99) - 1] * 1e3 if lat else float("nan")
half = len(rss) // 2
growth = (rss[-1] - rss[half]) / 1024 if len(rss) > 1 else 0.0
print(json.dumps({
    "seconds": seconds,
    "requests": sum(statuses.values()),
    "statuses": {str(k): v for k, v in sorted(statuses.items(), key=lambda kv: str(kv[0]))},
    "api_p99_ms": round(p99, 2),
    "rss_kib_samples": rss,
    "rss_growth_second_half_mib": round(growth, 2),
    "fds_baseline": baseline_fds,
    "fds_after_clients_left": fds(),
    "unasked_5xx": len(unasked_5xx),
    "unasked_5xx_examples": unasked_5xx[:5],
}, indent=2), flush=True)
