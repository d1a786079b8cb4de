//! A real MariaDB server for tests: `mariadbd` on a free loopback port with its data in a
//! temporary directory, killed (by PID) when dropped.
//!
//! The server runs with `--skip-grant-tables` (any user, no password) on a fresh data
//! directory made by `mariadbd --bootstrap` (faster than `mariadb-install-db`, whose grant
//! tables it does not need); the database `test` is created as a directory before it starts. As root it runs with `--user=root`. A missing `mariadbd` panics
//! with a message naming the package; the tests are never skipped silently.
//!
//! ```no_run
//! use cache_core::{testing::MariadbServer, Cache};
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let server = MariadbServer::start();
//! let cache = Cache::from_url(&server.url()).await?;
//! cache.set("k", &1).await?;
//! # Ok::<(), cache_core::Error>(()) }).unwrap();
//! ```

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::process::{
    accepts, find_binary, free_port, is_root, kill, log_of, start_again, stop, temp_dir,
    READY_WITHIN,
};

/// The database the server is created with.
const DATABASE: &str = "test";

/// One `mariadbd` process on a free loopback port, in a temporary directory. Dropping it kills
/// the process (by PID) and removes the directory.
#[derive(Debug)]
pub struct MariadbServer {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl MariadbServer {
    /// Starts a server and waits until it accepts connections (up to 30 s; the server log is
    /// printed on failure).
    ///
    /// ```no_run
    /// let server = cache_core::testing::MariadbServer::start();
    /// assert!(server.url().starts_with("mysql://root@127.0.0.1:"));
    /// ```
    pub fn start() -> Self {
        let mut last = String::new();
        // A port picked as free can be taken before the server binds it: try a few.
        for _ in 0..5 {
            let port = free_port();
            let mut server = MariadbServer {
                port,
                dir: temp_dir("mariadb", port),
                child: None,
            };
            let db = server.dir.join("data").join(DATABASE);
            if let Err(e) = std::fs::create_dir_all(&db) {
                panic!("cannot create {}: {e}", db.display());
            }
            match server.bootstrap().and_then(|()| server.spawn()) {
                Ok(()) => return server,
                Err(e) => last = e,
            }
        }
        panic!("mariadbd did not start: {last}")
    }

    fn command() -> Command {
        let bin = find_binary("mariadbd", &["/usr/sbin", "/usr/libexec"], "mariadb-server");
        let mut cmd = Command::new(bin);
        cmd.arg("--no-defaults");
        if is_root() {
            cmd.arg("--user=root");
        }
        cmd
    }

    /// Creates the InnoDB files with `mariadbd --bootstrap`, which ends with a clean shutdown:
    /// a data directory a first server created itself cannot be recovered after a kill.
    fn bootstrap(&self) -> Result<(), String> {
        let d = |f: &str| self.dir.join(f).display().to_string();
        let out = Self::command()
            .arg(format!("--datadir={}", d("data")))
            .arg(format!("--tmpdir={}", self.dir.display()))
            .arg(format!("--log-error={}", d("bootstrap.log")))
            .args(["--bootstrap", "--skip-grant-tables", "--skip-log-bin"])
            .args([
                "--innodb-buffer-pool-size=32M",
                "--innodb-log-file-size=16M",
            ])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running mariadbd --bootstrap: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mariadbd --bootstrap failed ({}); log:\n{}",
                out.status,
                log_of(&self.dir.join("bootstrap.log"))
            ));
        }
        Ok(())
    }

    fn spawn(&mut self) -> Result<(), String> {
        let log_path = self.dir.join("mariadb.log");
        let pid_path = self.dir.join("mariadb.pid");
        let _ = std::fs::remove_file(&log_path);
        let _ = std::fs::remove_file(&pid_path);
        let d = |f: &str| self.dir.join(f).display().to_string();
        let mut child = Self::command()
            .arg(format!("--datadir={}", d("data")))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", d("mariadb.sock")))
            .arg(format!("--pid-file={}", pid_path.display()))
            .arg(format!("--log-error={}", log_path.display()))
            .arg(format!("--tmpdir={}", self.dir.display()))
            .args([
                "--skip-grant-tables",
                "--skip-name-resolve",
                "--skip-log-bin",
            ])
            .args([
                "--innodb-buffer-pool-size=32M",
                "--innodb-log-file-size=16M",
            ])
            // Written to the OS at every commit: a killed server loses nothing committed.
            .arg("--innodb-flush-log-at-trx-commit=2")
            .args(["--max-connections=200", "--character-set-server=utf8mb4"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawning mariadbd: {e}"))?;
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            // Ready when its pid file is ours, its log says so and the port accepts.
            let ours = std::fs::read_to_string(&pid_path)
                .is_ok_and(|s| s.trim() == child.id().to_string());
            let ready = ours && log_of(&log_path).contains("ready for connections");
            if ready && accepts(self.port) {
                self.child = Some(child);
                return Ok(());
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "mariadbd on port {} exited ({status}); log:\n{}",
                    self.port,
                    log_of(&log_path)
                ));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "mariadbd on port {} was not ready within {READY_WITHIN:?}; log:\n{}",
                    self.port,
                    log_of(&log_path)
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `mysql://root@127.0.0.1:PORT/test`.
    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}/{DATABASE}", self.port)
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's temporary directory (data in `data/`, the log in `mariadb.log`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The PID of the running server, if it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server (SIGKILL, by PID), like a crash. Committed data survives: a
    /// [`restart`](Self::restart) recovers it.
    pub fn kill(&mut self) {
        kill(&mut self.child);
    }

    /// Stops the server cleanly (SIGTERM; SIGKILL if it has not exited within 10 s).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop(&mut child, "-TERM", Duration::from_secs(10));
        }
    }

    /// Starts the server again on the same port and data directory (after
    /// [`kill`](Self::kill), or while running: it is stopped first).
    ///
    /// ```no_run
    /// let mut server = cache_core::testing::MariadbServer::start();
    /// server.kill();
    /// server.restart();
    /// ```
    pub fn restart(&mut self) {
        self.stop();
        start_again("mariadbd", READY_WITHIN, Duration::from_millis(200), || {
            self.spawn()
        });
    }
}

impl Drop for MariadbServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
