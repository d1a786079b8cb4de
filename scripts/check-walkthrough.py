#!/usr/bin/env python3
"""Runs the curl walk-through of README.md against a freshly started demo and checks that every
command prints exactly what the README says it prints.

    ./scripts/check-walkthrough.py            # builds and starts the demo itself on a free port

The README block is the first ```sh block after "## The demo, with curl". In it, a line that is
not a comment is a command; the `# ` lines right after it are its expected output.
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
readme = open(os.path.join(root, "README.md")).read()
section = readme.split("## The demo, with curl", 1)[1]
block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)

steps = []  # (command, [expected lines])
in_output = False  # inside the `# ` lines that follow a command
for line in block.splitlines():
    if not line.strip():
        in_output = False
    elif not line.startswith("#"):
        steps.append((line, []))
        in_output = True
    elif in_output and line.startswith("# "):
        steps[-1][1].append(line[2:])

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]

subprocess.run(["cargo", "build", "-q", "-p", "cache-examples", "--bin", "demo"], cwd=root, check=True)
target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target"))
env = dict(os.environ, BIND=f"127.0.0.1:{port}")
env.pop("CACHE_URL", None)
demo = subprocess.Popen([os.path.join(target, "debug", "demo")], env=env,
                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
failures = 0
try:
    first = demo.stdout.readline()
    assert first.startswith("listening on "), f"demo did not start: {first!r}"
    for command, expected in steps:
        cmd = command.replace("localhost:3000", f"localhost:{port}")
        out = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=30).stdout
        got = [l.rstrip("\r") for l in out.splitlines()]
        ok = got == expected
        failures += not ok
        print(("ok   " if ok else "FAIL ") + command)
        if not ok:
            print("  expected:", expected)
            print("  got:     ", got)
finally:
    demo.send_signal(signal.SIGINT)
    demo.wait(timeout=10)
print(f"{len(steps) - failures} passed, {failures} failed")
sys.exit(1 if failures else 0)
