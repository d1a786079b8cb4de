//! A real PostgreSQL server for tests: `initdb` into a temporary directory, then `postgres` on a
//! free loopback port, stopped (by PID) when dropped.
//!
//! When the tests run as root (which PostgreSQL refuses), the server runs as an unprivileged
//! user (`postgres` if it exists, else `nobody`) through `setpriv`. Binaries are looked up on
//! `PATH`, then in `/usr/lib/postgresql/<version>/bin` (Debian). A missing binary panics with a
//! message naming the package; the tests are never skipped silently.
//!
//! ```no_run
//! use cache_core::{testing::PostgresServer, Cache};
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let server = PostgresServer::start();
//! let cache = Cache::from_url(&server.url()).await?;
//! cache.set("k", &1).await?;
//! # Ok::<(), cache_core::Error>(()) }).unwrap();
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::process::{
    accepts, find_binary, free_port, is_root, log_of, start_again, stop, temp_dir,
    unprivileged_user, READY_WITHIN,
};

const DEBIAN_BIN: &str = "/usr/lib/postgresql/*/bin";
/// The database the server is created with.
const DATABASE: &str = "test";

fn bin(name: &str) -> PathBuf {
    find_binary(name, &[DEBIAN_BIN], "postgresql")
}

/// One PostgreSQL server on a free loopback port, with a database `test` and a superuser
/// `postgres` (trust authentication), in a temporary directory. Dropping it stops the server
/// (by PID) and removes the directory.
#[derive(Debug)]
pub struct PostgresServer {
    port: u16,
    dir: PathBuf,
    /// `setpriv` arguments that run a command as an unprivileged user, when we are root.
    run_as: Option<Vec<String>>,
    child: Option<Child>,
}

impl PostgresServer {
    /// Creates a cluster, starts the server and waits until it accepts connections (up to
    /// 30 s; the server log is printed on failure).
    ///
    /// ```no_run
    /// let server = cache_core::testing::PostgresServer::start();
    /// assert!(server.url().starts_with("postgres://postgres@127.0.0.1:"));
    /// ```
    pub fn start() -> Self {
        let run_as = is_root().then(|| {
            let (uid, gid) = unprivileged_user();
            vec![
                format!("--reuid={uid}"),
                format!("--regid={gid}"),
                "--clear-groups".to_owned(),
            ]
        });
        let mut last = String::new();
        // A port picked as free can be taken before the server binds it: try a few.
        for _ in 0..5 {
            let port = free_port();
            let mut server = PostgresServer {
                port,
                dir: temp_dir("postgres", port),
                run_as: run_as.clone(),
                child: None,
            };
            match server.init().and_then(|()| server.spawn()) {
                Ok(()) => return server,
                Err(e) => last = e,
            }
        }
        panic!("postgres did not start: {last}")
    }

    fn command(&self, bin_path: &Path) -> Command {
        match &self.run_as {
            Some(args) => {
                let mut cmd = Command::new("setpriv");
                cmd.args(args).arg(bin_path);
                cmd
            }
            None => Command::new(bin_path),
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn init(&mut self) -> Result<(), String> {
        if self.run_as.is_some() {
            let (uid, gid) = unprivileged_user();
            let status = Command::new("chown")
                .arg(format!("{uid}:{gid}"))
                .arg(&self.dir)
                .status()
                .map_err(|e| format!("chown {}: {e}", self.dir.display()))?;
            if !status.success() {
                return Err(format!("chown {} failed", self.dir.display()));
            }
        }
        let out = self
            .command(&bin("initdb"))
            .arg("-D")
            .arg(self.data())
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
            .args(["--no-instructions", "--locale=C"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running initdb (setpriv when root): {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        // The database, created in single-user mode before the server listens.
        let mut single = self
            .command(&bin("postgres"))
            .args(["--single", "-F", "-D"])
            .arg(self.data())
            .arg("postgres")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("running postgres --single: {e}"))?;
        if let Some(mut stdin) = single.stdin.take() {
            writeln!(stdin, "CREATE DATABASE {DATABASE};")
                .map_err(|e| format!("postgres --single: {e}"))?;
        }
        let out = single
            .wait_with_output()
            .map_err(|e| format!("postgres --single: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        if !out.status.success() || text.contains("ERROR") {
            return Err(format!("creating database {DATABASE} failed:\n{text}"));
        }
        Ok(())
    }

    fn spawn(&mut self) -> Result<(), String> {
        let log_path = self.dir.join("postgres.log");
        let log = std::fs::File::create(&log_path)
            .map_err(|e| format!("creating {}: {e}", log_path.display()))?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let mut child = self
            .command(&bin("postgres"))
            .arg("-D")
            .arg(self.data())
            .args(["-p", &self.port.to_string(), "-k"])
            .arg(&self.dir)
            .args(["-c", "listen_addresses=127.0.0.1", "-F"])
            .args(["-c", "shared_buffers=16MB", "-c", "fsync=off"])
            // No fsync, but every commit reaches the OS before it returns: a killed server (not
            // a crashed machine) keeps what was committed.
            .args(["-c", "full_page_writes=off"])
            .args(["-c", "max_connections=100", "-c", "max_wal_size=64MB"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| format!("spawning postgres: {e}"))?;
        let deadline = Instant::now() + READY_WITHIN;
        let pid_file = self.data().join("postmaster.pid");
        loop {
            // Ready when its pid file (ours, by PID) says so and the port accepts connections.
            let ready = std::fs::read_to_string(&pid_file).is_ok_and(|s| {
                s.lines().next().map(str::trim) == Some(&child.id().to_string())
                    && s.lines().any(|l| l.trim() == "ready")
            });
            if ready && accepts(self.port) {
                self.child = Some(child);
                return Ok(());
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "postgres on port {} exited ({status}); log:\n{}",
                    self.port,
                    log_of(&log_path)
                ));
            }
            if Instant::now() > deadline {
                stop(&mut child, "-QUIT", Duration::from_secs(5));
                return Err(format!(
                    "postgres on port {} was not ready within {READY_WITHIN:?}; log:\n{}",
                    self.port,
                    log_of(&log_path)
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `postgres://postgres@127.0.0.1:PORT/test`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{DATABASE}", self.port)
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's temporary directory (the cluster is in `data/`, the log in
    /// `postgres.log`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The PID of the running server, if it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops the server at once, like a crash (SIGQUIT, an immediate shutdown that ends every
    /// backend; SIGKILL if it has not exited within 10 s). Committed data survives: a
    /// [`restart`](Self::restart) recovers it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop(&mut child, "-QUIT", Duration::from_secs(10));
        }
    }

    /// Starts the server again on the same port and data directory (after
    /// [`kill`](Self::kill), or while running: it is stopped first).
    ///
    /// ```no_run
    /// let mut server = cache_core::testing::PostgresServer::start();
    /// server.kill();
    /// server.restart();
    /// ```
    pub fn restart(&mut self) {
        self.kill();
        start_again("postgres", READY_WITHIN, Duration::from_millis(200), || {
            self.spawn()
        });
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
