"""The cache servers a soak run starts, kills, restarts and pauses: redis-server, memcached and
PostgreSQL (initdb into the run's temporary directory), each on a free loopback port, as its own
process group (so a kill or a pause reaches every process of the server, such as PostgreSQL's
backends). The commands mirror cache-core/src/testing/{redis,memcached,postgres}.rs.

Only processes started here are signalled, by their process-group id.
"""

import glob
import os
import shutil
import signal
import socket
import subprocess
import time

READY_WITHIN = 30.0


def free_port():
    """A loopback port nothing listens on now (the kernel's pick of an ephemeral port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ask(port, request, timeout=0.3):
    """Sends `request` to the loopback `port` and returns the first bytes of the answer (b"" when
    nothing answers)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(request)
            return s.recv(256)
    except OSError:
        return b""


def accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


class Server:
    """One server process group. Subclasses say how to spawn it and when it is ready."""

    name = "server"

    def __init__(self, dir_):
        self.dir = dir_
        os.makedirs(dir_, exist_ok=True)
        self.port = None
        self.proc = None

    # To override.
    def command(self):
        raise NotImplementedError

    def ready(self):
        raise NotImplementedError

    def url(self):
        raise NotImplementedError

    def log(self):
        return os.path.join(self.dir, f"{self.name}.log")

    def log_tail(self, n=30):
        try:
            with open(self.log(), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def start(self):
        """Starts on a free port (a few tries: a port picked as free can be taken meanwhile)."""
        last = ""
        for _ in range(5):
            self.port = free_port()
            try:
                self._spawn()
                return
            except RuntimeError as e:
                last = str(e)
        raise RuntimeError(f"{self.name} did not start: {last}")

    def _spawn(self):
        log = open(self.log(), "ab")
        self.proc = subprocess.Popen(
            self.command(), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            start_new_session=True)
        log.close()
        deadline = time.monotonic() + READY_WITHIN
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} on port {self.port} exited ({self.proc.returncode}); log:\n"
                    + self.log_tail())
            if self.ready():
                return
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"{self.name} on port {self.port} was not ready within {READY_WITHIN} s")

    def _signal_group(self, sig):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self):
        """SIGKILL to the whole process group (a crash), then reaps it."""
        if self.proc is None:
            return
        self._signal_group(signal.SIGCONT)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        # Backends of the group (PostgreSQL) are gone with it; wait until the group is empty.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.02)
        self.proc = None

    def restart(self):
        """Starts again on the same port (and data directory); retries while the port is still
        held by the killed process's sockets."""
        deadline = time.monotonic() + READY_WITHIN
        while True:
            try:
                self._spawn()
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def pause(self):
        """SIGSTOP to the group: the sockets stay open, nothing answers (a hung machine)."""
        self._signal_group(signal.SIGSTOP)

    def resume(self):
        self._signal_group(signal.SIGCONT)

    def stop(self):
        self.kill()


class Redis(Server):
    name = "redis"

    def command(self):
        return ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--daemonize", "no",
                "--dir", self.dir, "--logfile", self.log()]

    def ready(self):
        return ask(self.port, b"PING\r\n").startswith(b"+PONG")

    def url(self):
        return f"redis://127.0.0.1:{self.port}"


class Memcached(Server):
    name = "memcached"

    def command(self):
        cmd = ["memcached", "-l", "127.0.0.1", "-p", str(self.port), "-U", "0", "-m", "64",
               "-t", "2", "-c", "1024"]
        if os.geteuid() == 0:
            cmd += ["-u", "root"]
        return cmd

    def ready(self):
        return ask(self.port, b"version\r\n").startswith(b"VERSION")

    def url(self):
        return f"memcached://127.0.0.1:{self.port}"


def pg_bin(name):
    found = shutil.which(name)
    if found:
        return found
    for path in sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True):
        return path
    raise RuntimeError(f"{name} not found: run scripts/ensure-sql.sh (package postgresql)")


def unprivileged_ids():
    """PostgreSQL refuses to run as root: the uid/gid of `postgres`, else `nobody`."""
    import pwd
    for user in ("postgres", "nobody"):
        try:
            pw = pwd.getpwnam(user)
            return pw.pw_uid, pw.pw_gid
        except KeyError:
            continue
    return 65534, 65534


class Postgres(Server):
    """initdb into `dir/data` with a database `test` (single-user mode), then `postgres` with its
    unix socket in `dir`; restarted on the same data directory (crash recovery)."""

    name = "postgres"
    database = "test"

    def __init__(self, dir_):
        super().__init__(dir_)
        self.run_as = []
        if os.geteuid() == 0:
            uid, gid = unprivileged_ids()
            os.chown(dir_, uid, gid)
            self.run_as = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]
        self.data = os.path.join(dir_, "data")
        out = subprocess.run(
            self.run_as + [pg_bin("initdb"), "-D", self.data, "-U", "postgres", "-A", "trust",
                           "-E", "UTF8", "--no-sync", "--no-instructions", "--locale=C"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{out.stdout}{out.stderr}")
        out = subprocess.run(
            self.run_as + [pg_bin("postgres"), "--single", "-F", "-D", self.data, "postgres"],
            input=f"CREATE DATABASE {self.database};\n", capture_output=True, text=True)
        if out.returncode != 0 or "ERROR" in out.stdout + out.stderr:
            raise RuntimeError(f"creating database {self.database} failed:\n{out.stdout}{out.stderr}")

    def log(self):
        return os.path.join(self.dir, "postgres.log")

    def command(self):
        return self.run_as + [
            pg_bin("postgres"), "-D", self.data, "-p", str(self.port), "-k", self.dir,
            "-c", "listen_addresses=127.0.0.1", "-F", "-c", "shared_buffers=16MB",
            "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=100",
            "-c", "max_wal_size=64MB"]

    def ready(self):
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                lines = [line.strip() for line in f]
        except OSError:
            return False
        return (lines and lines[0] == str(self.proc.pid) and "ready" in lines
                and accepts(self.port))

    def url(self):
        return f"postgres://postgres@127.0.0.1:{self.port}/{self.database}"


KINDS = {"redis": Redis, "memcached": Memcached, "postgres": Postgres}
