//! Real `memcached` processes for tests, each on a free loopback port, stopped (killed by PID)
//! when dropped.
//!
//! A test that needs Memcached panics with a clear message when `memcached` is not installed;
//! it is never skipped silently.
//!
//! ```no_run
//! use cache_core::{testing::MemcachedServer, Cache};
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let server = MemcachedServer::start();
//! let cache = Cache::from_url(&server.url()).await?;
//! cache.set("k", &1).await?;
//! # Ok::<(), cache_core::Error>(()) }).unwrap();
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::process::{free_port, is_root, kill, start_again};

const READY_WITHIN: Duration = Duration::from_secs(10);

/// One `memcached` process on a free loopback port (128 MB, items up to 16 MB, no UDP). Dropping it kills the
/// process by PID.
#[derive(Debug)]
pub struct MemcachedServer {
    port: u16,
    child: Option<Child>,
}

/// Whether a Memcached server answers `version` on `port`.
fn answers(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 64];
    s.write_all(b"version\r\n").is_ok()
        && s.read(&mut buf)
            .is_ok_and(|n| buf[..n].starts_with(b"VERSION"))
}

impl MemcachedServer {
    /// Starts a server and waits until it answers.
    ///
    /// Panics with a clear message when `memcached` is not installed.
    ///
    /// ```no_run
    /// let server = cache_core::testing::MemcachedServer::start();
    /// assert!(server.url().starts_with("memcached://127.0.0.1:"));
    /// ```
    pub fn start() -> Self {
        let mut server = Self {
            port: free_port(),
            child: None,
        };
        server.restart();
        server
    }

    fn spawn(&mut self) -> Result<(), String> {
        let mut cmd = Command::new("memcached");
        cmd.args(["-l", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "0", "-m", "128", "-I", "16m", "-t", "2", "-c", "1024"]);
        if is_root() {
            cmd.args(["-u", "root"]);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run `memcached` ({e}): these tests need a real Memcached on PATH; \
                     install it (Debian: `apt-get install memcached`, or ./scripts/ensure-memcached.sh)"
                )
            });
        self.child = Some(child);
        let deadline = Instant::now() + READY_WITHIN;
        while Instant::now() < deadline {
            if answers(self.port) {
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return Err(format!("memcached on port {} exited: {status}", self.port));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "memcached on port {} did not answer within {READY_WITHIN:?}",
            self.port
        ))
    }

    /// The URL of this one server, `memcached://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("memcached://{}", self.addr())
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The URL of several servers, for a store that spreads keys over them.
    ///
    /// ```no_run
    /// use cache_core::testing::MemcachedServer;
    /// let servers = [MemcachedServer::start(), MemcachedServer::start()];
    /// assert!(MemcachedServer::url_of(&servers).contains(','));
    /// ```
    pub fn url_of(servers: &[MemcachedServer]) -> String {
        let addrs: Vec<String> = servers.iter().map(Self::addr).collect();
        format!("memcached://{}", addrs.join(","))
    }

    /// The PID of the running process, if it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server (SIGKILL, by PID) and waits for it to exit. Its data is lost.
    pub fn kill(&mut self) {
        kill(&mut self.child);
    }

    /// Starts the server again on the same port (after [`kill`](Self::kill)), empty.
    ///
    /// ```no_run
    /// let mut server = cache_core::testing::MemcachedServer::start();
    /// server.kill();
    /// server.restart();
    /// ```
    pub fn restart(&mut self) {
        self.kill();
        start_again(
            "memcached",
            READY_WITHIN,
            Duration::from_millis(100),
            || self.spawn(),
        );
    }
}

impl Drop for MemcachedServer {
    fn drop(&mut self) {
        self.kill();
    }
}
