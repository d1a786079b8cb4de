//! Support for the end-to-end tests: a peer process that runs a `Cache` and answers commands,
//! so that tests can prove what crosses process boundaries.

use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// Microseconds since the Unix epoch (both processes read the same clock).
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// A `peer` process (see `src/bin/peer.rs`) with a cache on `url` and `prefix`.
#[derive(Debug)]
pub struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Peer {
    /// Starts the peer binary `exe` (`env!("CARGO_BIN_EXE_peer")` in a test) and waits until
    /// its cache is built.
    pub async fn spawn(exe: &str, url: &str, prefix: &str) -> Peer {
        let mut child = Command::new(exe)
            .env("CACHE_URL", url)
            .env("CACHE_PREFIX", prefix)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("starting the peer process");
        let stdin = child.stdin.take().expect("peer stdin");
        let stdout = BufReader::new(child.stdout.take().expect("peer stdout")).lines();
        let mut peer = Peer {
            child,
            stdin,
            stdout,
        };
        assert_eq!(peer.read().await, "ready", "peer did not start");
        peer
    }

    /// Sends one command line.
    pub async fn send(&mut self, line: &str) {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("writing to the peer");
        self.stdin.flush().await.expect("flushing the peer's stdin");
    }

    /// Reads one answer line (bounded: a stuck peer fails the test).
    pub async fn read(&mut self) -> String {
        tokio::time::timeout(Duration::from_secs(60), self.stdout.next_line())
            .await
            .expect("the peer did not answer within 60 s")
            .expect("reading from the peer")
            .expect("the peer exited")
    }

    /// Sends a command and reads its answer.
    pub async fn ask(&mut self, line: &str) -> String {
        self.send(line).await;
        self.read().await
    }

    /// The peer's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}
