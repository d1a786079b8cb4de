//! Real `redis-server` processes for tests: a standalone server and a Redis Cluster, each on
//! free loopback ports in a temporary directory, stopped (killed by PID) when dropped.
//!
//! A test that needs Redis panics with a clear message when `redis-server` is not installed; it
//! is never skipped silently.
//!
//! ```no_run
//! use cache_core::{testing::RedisServer, Cache};
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let server = RedisServer::start();
//! let cache = Cache::from_url(&server.url()).await?;
//! cache.set("k", &1).await?;
//! # Ok::<(), cache_core::Error>(()) }).unwrap();
//! ```

use super::process::{free_port, kill, start_again, temp_dir};
use crate::Cache;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const READY_WITHIN: Duration = Duration::from_secs(10);

fn missing(bin: &str, e: &std::io::Error) -> ! {
    panic!(
        "cannot run `{bin}` ({e}): these tests need real Redis binaries (redis-server, redis-cli) on PATH; \
         install Redis (e.g. `apt-get install redis-server` or `brew install redis`)"
    )
}

/// The PID of the Redis server answering on `port` (from an inline `INFO server`), if one does.
fn answering_pid(port: u16) -> Option<u32> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    s.write_all(b"INFO server\r\n").ok()?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < 64 * 1024 {
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
        if let Some(pid) = info_pid(&String::from_utf8_lossy(&got)) {
            return Some(pid);
        }
    }
    None
}

/// The `process_id` field of an `INFO server` reply, once its line is complete.
fn info_pid(info: &str) -> Option<u32> {
    let rest = info.split("process_id:").nth(1)?;
    rest[..rest.find(['\r', '\n'])?].trim().parse().ok()
}

/// One `redis-server` process on a free loopback port, in a temporary directory. Dropping it
/// kills the process (by PID) and removes the directory.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    extra: Vec<String>,
    /// A Sentinel's configuration file (the process then runs with `--sentinel`).
    sentinel_conf: Option<String>,
    /// Serve TLS only (certificates made with `openssl` in `dir`).
    tls: bool,
    /// The program run: `redis-server`, looked up on `PATH`.
    bin: &'static str,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a standalone server (no persistence) and waits until it answers.
    ///
    /// Panics with a clear message when `redis-server` is not installed.
    ///
    /// ```no_run
    /// let server = cache_core::testing::RedisServer::start();
    /// assert!(server.url().starts_with("redis://127.0.0.1:"));
    /// ```
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server with extra `redis-server` arguments (such as `--maxmemory 10mb`).
    ///
    /// ```no_run
    /// let server = cache_core::testing::RedisServer::start_with(&["--maxmemory", "10mb"]);
    /// # let _ = server;
    /// ```
    pub fn start_with(args: &[&str]) -> Self {
        Self::start_inner(args, None, false)
    }

    /// Starts a server that speaks only TLS, with a certificate for `127.0.0.1` and `localhost`
    /// signed by a fresh test CA ([`ca_file`](Self::ca_file)); [`url`](Self::url) is then
    /// `rediss://…`. Needs the `openssl` command.
    ///
    /// ```no_run
    /// let server = cache_core::testing::RedisServer::start_tls();
    /// assert!(server.url().starts_with("rediss://"));
    /// ```
    pub fn start_tls() -> Self {
        Self::start_inner(&[], None, true)
    }

    fn start_inner(args: &[&str], sentinel_conf: Option<String>, tls: bool) -> Self {
        Self::start_program("redis-server", args, sentinel_conf, tls)
    }

    fn start_program(
        bin: &'static str,
        args: &[&str],
        sentinel_conf: Option<String>,
        tls: bool,
    ) -> Self {
        let extra: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        let mut last = String::new();
        // A port picked as free can be taken before the server binds it: try a few.
        for _ in 0..5 {
            let port = free_port();
            let mut server = RedisServer {
                port,
                dir: temp_dir("redis", port),
                extra: extra.clone(),
                sentinel_conf: sentinel_conf.clone(),
                tls,
                bin,
                child: None,
            };
            match server.spawn() {
                Ok(()) => return server,
                Err(e) => last = e,
            }
        }
        panic!("redis-server did not start: {last}")
    }

    fn spawn(&mut self) -> Result<(), String> {
        let log = self.dir.join("redis.log");
        let mut cmd = Command::new(self.bin);
        if let Some(conf) = &self.sentinel_conf {
            let path = self.dir.join("sentinel.conf");
            std::fs::write(&path, conf).map_err(|e| format!("writing {}: {e}", path.display()))?;
            cmd.arg(path).arg("--sentinel");
        }
        if self.tls {
            make_certs(&self.dir)?;
            let d = |f: &str| self.dir.join(f).display().to_string();
            cmd.args(["--port", "0", "--tls-port", &self.port.to_string()])
                .args([
                    "--tls-cert-file",
                    &d("server.crt"),
                    "--tls-key-file",
                    &d("server.key"),
                ])
                .args([
                    "--tls-ca-cert-file",
                    &d("ca.crt"),
                    "--tls-auth-clients",
                    "no",
                ]);
        } else {
            cmd.args(["--port", &self.port.to_string()]);
        }
        cmd.args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(&log)
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing(self.bin, &e),
            Err(e) => return Err(format!("spawning redis-server: {e}")),
        };
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            // The server answering must be this one: a port picked as free may have gone to
            // another test's server in the meantime, and this one then fails to bind it.
            let pid = if self.tls {
                cli_output(self.port, Some(&self.dir), &["INFO", "server"], None)
                    .ok()
                    .and_then(|o| info_pid(&o))
            } else {
                answering_pid(self.port)
            };
            match pid {
                Some(pid) if pid == child.id() => {
                    self.child = Some(child);
                    return Ok(());
                }
                Some(other) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "port {} was taken by another redis-server (pid {other})",
                        self.port
                    ));
                }
                None => {}
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "redis-server on port {} exited ({status}); log:\n{}",
                    self.port,
                    std::fs::read_to_string(&log).unwrap_or_default()
                ));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "redis-server on port {} did not answer within {READY_WITHIN:?}",
                    self.port
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `redis://127.0.0.1:PORT` (`rediss://` for a TLS server).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// A cache on this server, in the namespace `prefix`; `url_options` (such as
    /// `"timeout_ms=250"`, or `""`) go in the URL's query, and `scheme_prefix` before it
    /// (`"tiered+"` for a memory tier in front, or `""`).
    ///
    /// ```no_run
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let server = cache_core::testing::RedisServer::start();
    /// let cache = server.cache("app", "", "pool=4").await;
    /// assert_eq!(cache.store().name(), "redis");
    /// # });
    /// ```
    pub async fn cache(&self, prefix: &str, scheme_prefix: &str, url_options: &str) -> Cache {
        let mut url = format!("{scheme_prefix}{}", self.url());
        if !url_options.is_empty() {
            url.push('?');
            url.push_str(url_options);
        }
        Cache::builder()
            .url(&url)
            .prefix(prefix)
            .build()
            .await
            .unwrap_or_else(|e| panic!("a cache on {url}: {e}"))
    }

    /// The test CA certificate that signed a TLS server's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's temporary directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The PID of the running process, if it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server (SIGKILL, by PID) and waits for it to exit. Data is lost.
    pub fn kill(&mut self) {
        kill(&mut self.child);
    }

    /// Freezes the server (SIGSTOP by PID): it keeps its socket open but answers nothing, like
    /// a hung machine. [`resume`](Self::resume) undoes it.
    ///
    /// ```no_run
    /// let mut server = cache_core::testing::RedisServer::start();
    /// server.pause();
    /// server.resume();
    /// ```
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a [`pause`](Self::pause)d server run again (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        let pid = self
            .pid()
            .unwrap_or_else(|| panic!("redis-server on port {} is not running", self.port));
        let status = Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap_or_else(|e| missing("kill", &e));
        assert!(status.success(), "kill {sig} {pid} failed");
    }

    /// Starts the server again on the same port (after [`kill`](Self::kill)).
    ///
    /// ```no_run
    /// let mut server = cache_core::testing::RedisServer::start();
    /// server.kill();
    /// server.restart();
    /// ```
    pub fn restart(&mut self) {
        self.kill();
        start_again(
            "redis-server",
            READY_WITHIN,
            Duration::from_millis(100),
            || self.spawn(),
        );
    }

    /// Runs `redis-cli -p PORT args…` and returns its output; panics if it fails.
    ///
    /// ```no_run
    /// let server = cache_core::testing::RedisServer::start();
    /// assert_eq!(server.cli(&["PING"]).trim(), "PONG");
    /// ```
    pub fn cli(&self, args: &[&str]) -> String {
        cli(self.port, self.tls.then_some(&*self.dir), args, None)
    }

    /// Runs `redis-cli -p PORT -x args…` with `input` as the last argument (binary-safe).
    ///
    /// ```no_run
    /// let server = cache_core::testing::RedisServer::start();
    /// server.cli_with_input(&["SET", "k"], b"\x00\xff");
    /// ```
    pub fn cli_with_input(&self, args: &[&str], input: &[u8]) -> String {
        cli(self.port, self.tls.then_some(&*self.dir), args, Some(input))
    }
}

fn cli(port: u16, tls_dir: Option<&Path>, args: &[&str], input: Option<&[u8]>) -> String {
    cli_output(port, tls_dir, args, input).unwrap_or_else(|e| panic!("{e}"))
}

fn cli_output(
    port: u16,
    tls_dir: Option<&Path>,
    args: &[&str],
    input: Option<&[u8]>,
) -> Result<String, String> {
    let mut cmd = Command::new("redis-cli");
    cmd.args(["-h", "127.0.0.1", "-p", &port.to_string()]);
    if let Some(dir) = tls_dir {
        cmd.arg("--tls").arg("--cacert").arg(dir.join("ca.crt"));
    }
    if input.is_some() {
        cmd.arg("-x");
    }
    cmd.args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| missing("redis-cli", &e));
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.unwrap_or_default());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("redis-cli: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "redis-cli {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A test CA and a server certificate for 127.0.0.1/localhost signed by it, made with `openssl`.
fn make_certs(dir: &Path) -> Result<(), String> {
    if dir.join("server.crt").exists() {
        return Ok(());
    }
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .map_err(|e| e.to_string())?;
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let steps: [Vec<&str>; 3] = [
        [
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "2",
                "-subj",
                "/CN=cache-rs test CA",
            ],
        ]
        .concat(),
        [
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=localhost",
            ],
        ]
        .concat(),
        vec![
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    ];
    for args in steps {
        let out = Command::new("openssl")
            .args(&args)
            .current_dir(dir)
            .output()
            .unwrap_or_else(|e| missing("openssl", &e));
        if !out.status.success() {
            return Err(format!(
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    Ok(())
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis Cluster of `masters` primaries (no replicas), made with `redis-cli --cluster create`
/// on free loopback ports. Dropping it kills every node.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts `masters` (at least 3) nodes, creates the cluster and waits until every node
    /// reports `cluster_state:ok`.
    ///
    /// ```no_run
    /// let cluster = cache_core::testing::RedisCluster::start(3);
    /// assert!(cluster.url().starts_with("redis-cluster://127.0.0.1:"));
    /// ```
    pub fn start(masters: usize) -> Self {
        assert!(
            masters >= 3,
            "a Redis Cluster needs at least 3 masters, not {masters}"
        );
        let nodes: Vec<RedisServer> = (0..masters)
            .map(|_| {
                // The cluster bus needs a second free port.
                let bus = free_port().to_string();
                RedisServer::start_with(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "5000",
                    "--cluster-port",
                    &bus,
                ])
            })
            .collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect();
        let mut args = vec!["--cluster", "create"];
        args.extend(addrs.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "0", "--cluster-yes"]);
        cli(nodes[0].port(), None, &args, None);
        let cluster = RedisCluster { nodes };
        cluster.wait_ok();
        cluster
    }

    fn wait_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = self.nodes.iter().all(|n| {
                let info = n.cli(&["CLUSTER", "INFO"]);
                info.contains("cluster_state:ok")
                    && info.contains(&format!("cluster_known_nodes:{}", self.nodes.len()))
            });
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the Redis Cluster did not reach cluster_state:ok within 30s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `redis-cluster://127.0.0.1:p1,127.0.0.1:p2,…`
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect();
        format!("redis-cluster://{}", hosts.join(","))
    }

    /// The nodes.
    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// Total keys over every node (`DBSIZE` summed).
    ///
    /// ```no_run
    /// let cluster = cache_core::testing::RedisCluster::start(3);
    /// assert_eq!(cluster.dbsize(), 0);
    /// ```
    pub fn dbsize(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| n.cli(&["DBSIZE"]).trim().parse::<u64>().unwrap_or(0))
            .sum()
    }
}

/// A Redis Sentinel watching a primary under a service name, on a free loopback port. Dropping
/// it kills the Sentinel (not the primary).
#[derive(Debug)]
pub struct RedisSentinel {
    server: RedisServer,
    service: String,
}

impl RedisSentinel {
    /// Starts a Sentinel (quorum 1) that monitors `primary` as `service`, and waits until it
    /// names the primary.
    ///
    /// ```no_run
    /// use cache_core::testing::{RedisSentinel, RedisServer};
    /// let primary = RedisServer::start();
    /// let sentinel = RedisSentinel::start(&primary, "mymaster");
    /// assert!(sentinel.url().starts_with("redis-sentinel://127.0.0.1:"));
    /// ```
    pub fn start(primary: &RedisServer, service: &str) -> Self {
        let conf = format!(
            "sentinel monitor {service} 127.0.0.1 {} 1\nsentinel down-after-milliseconds {service} 5000\n",
            primary.port()
        );
        let server = RedisServer::start_inner(&[], Some(conf), false);
        let deadline = Instant::now() + READY_WITHIN;
        while !server
            .cli(&["SENTINEL", "get-master-addr-by-name", service])
            .contains(&primary.port().to_string())
        {
            assert!(
                Instant::now() < deadline,
                "the Sentinel does not name {service}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        RedisSentinel {
            server,
            service: service.to_owned(),
        }
    }

    /// `redis-sentinel://127.0.0.1:PORT?service_name=NAME`
    pub fn url(&self) -> String {
        format!(
            "redis-sentinel://127.0.0.1:{}?service_name={}",
            self.server.port(),
            self.service
        )
    }

    /// The Sentinel process.
    pub fn server(&self) -> &RedisServer {
        &self.server
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A program that does not exist, named instead of emptying `PATH`: the environment is
    /// shared by every test of the process (`cargo test` runs them on threads of one process).
    #[test]
    #[should_panic(expected = "these tests need real Redis binaries")]
    fn a_missing_redis_server_is_a_loud_failure_not_a_skip() {
        let _ = RedisServer::start_program(
            "/nonexistent-cache-rs-test-dir/redis-server",
            &[],
            None,
            false,
        );
    }

    #[test]
    fn a_port_taken_by_another_server_is_not_mistaken_for_ours() {
        let other = RedisServer::start();
        let mut server = RedisServer {
            port: other.port(),
            dir: temp_dir("redis", other.port()),
            extra: Vec::new(),
            sentinel_conf: None,
            tls: false,
            bin: "redis-server",
            child: None,
        };
        let err = server
            .spawn()
            .expect_err("the port answers for another server");
        assert!(err.contains("taken by another redis-server"), "{err}");
        assert_eq!(server.pid(), None);
        let mine = RedisServer::start();
        assert_ne!(mine.port(), other.port());
        assert_eq!(answering_pid(mine.port()), mine.pid());
        assert_eq!(answering_pid(other.port()), other.pid());
    }
}
