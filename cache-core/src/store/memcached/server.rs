//! One Memcached server: its connection pool (`deadpool`), its timeouts, and whether it is down.
//!
//! A server that fails to connect, breaks a connection or lets a command time out is marked
//! down for the URL's `retry_ms`: calls for its keys then fail at once (the cache runs the real
//! work instead) rather than each waiting out a timeout. The first call after that time tries
//! the server again, so a restarted server is used again without any action.
//!
//! A command cut short by its timeout leaves its connection closed (`async-memcached` closes a
//! connection whose reply was not read), and the pool drops it instead of reusing it.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use async_memcached::{Client, Error as McError, Status};
use deadpool::managed::{self, Metrics, Object, Pool, PoolError, RecycleError, RecycleResult};

use crate::error::{Error, Result};

/// Opens connections to one server.
#[derive(Debug)]
pub(super) struct Connector {
    /// `tcp://host:port`, as the client wants it.
    dsn: String,
    connect_timeout: Duration,
}

impl managed::Manager for Connector {
    type Type = Client;
    type Error = McError;

    async fn create(&self) -> std::result::Result<Client, McError> {
        match tokio::time::timeout(self.connect_timeout, Client::new(&self.dsn)).await {
            Ok(r) => r,
            Err(_) => Err(McError::Connect(io::Error::new(
                io::ErrorKind::TimedOut,
                "connect timed out",
            ))),
        }
    }

    async fn recycle(&self, c: &mut Client, _: &Metrics) -> RecycleResult<McError> {
        if c.is_closed() {
            Err(RecycleError::message("connection closed"))
        } else {
            Ok(())
        }
    }
}

/// A pooled connection.
pub(super) type Conn = Object<Connector>;

/// One server of the store.
pub(super) struct Server {
    pub(super) addr: String,
    pool: Pool<Connector>,
    timeout: Duration,
    retry: Duration,
    /// Milliseconds after `epoch` until which the server is passed over; 0 when it is up.
    down_until: AtomicU64,
    epoch: Instant,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .field("down", &self.is_down())
            .finish()
    }
}

/// Whether an error says the server (or the way to it) failed, rather than the command.
fn is_outage(e: &McError) -> bool {
    matches!(
        e,
        McError::Connect(_) | McError::ConnectionClosed | McError::Io(_)
    )
}

impl Server {
    pub(super) fn new(
        addr: String,
        pool: usize,
        timeout: Duration,
        connect_timeout: Duration,
        retry: Duration,
    ) -> Result<Self> {
        let manager = Connector {
            dsn: format!("tcp://{addr}"),
            connect_timeout,
        };
        let pool = Pool::builder(manager)
            .max_size(pool)
            .runtime(deadpool::Runtime::Tokio1)
            .build()
            .map_err(|e| Error::Config(format!("memcached {addr}: connection pool: {e}")))?;
        Ok(Self {
            addr,
            pool,
            timeout,
            retry,
            down_until: AtomicU64::new(0),
            epoch: Instant::now(),
        })
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether the server is being passed over after a failure.
    pub(super) fn is_down(&self) -> bool {
        let until = self.down_until.load(Relaxed);
        until != 0 && self.elapsed_ms() < until
    }

    fn mark_down(&self, why: &str) {
        let now = self.elapsed_ms();
        let until = now
            .saturating_add(u64::try_from(self.retry.as_millis()).unwrap_or(u64::MAX))
            .max(1);
        let before = self.down_until.swap(until, Relaxed);
        if before == 0 || before <= now {
            tracing::warn!(target: "cache", server = %self.addr, error = why, retry = ?self.retry, "memcached server marked down");
        }
    }

    fn down_error(&self) -> Error {
        Error::Backend(format!(
            "memcached {} is down (a recent call failed); it is tried again within {:?}",
            self.addr, self.retry
        ))
    }

    fn backend(&self, e: &McError) -> Error {
        Error::Backend(format!("memcached {}: {e}", self.addr))
    }

    /// Runs one command on a pooled connection: a connection is taken and the command answers
    /// within the larger of the command and connect timeouts (one timer for both steps), or the
    /// call fails (and the server is marked down when the
    /// failure is the server's). A refused or reset connection fails at once.
    ///
    /// `op` gets the connection and gives it back with the command's result.
    pub(super) async fn call<T, F, Fut>(&self, op: F) -> Result<T>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: Future<Output = (Conn, std::result::Result<T, McError>)>,
    {
        if self.is_down() {
            return Err(self.down_error());
        }
        // One timer for both steps: taking a connection (opening one if need be) and the
        // command.
        let attempt = async {
            let conn = self.pool.get().await.map_err(|e| match e {
                PoolError::Backend(e) => e,
                other => McError::Connect(io::Error::other(other.to_string())),
            })?;
            let (conn, r) = op(conn).await;
            if r.as_ref().is_err_and(is_outage) {
                // The connection cannot be trusted after an I/O error.
                drop(Object::take(conn));
            }
            r
        };
        // The whole call, taking or opening a connection included, is bounded by the command
        // timeout: a caller never waits longer than `timeout_ms` on a server.
        let bound = self.timeout;
        match tokio::time::timeout(bound, attempt).await {
            Ok(Ok(v)) => {
                if self.down_until.load(Relaxed) != 0 {
                    self.down_until.store(0, Relaxed);
                }
                Ok(v)
            }
            Ok(Err(e)) => {
                if is_outage(&e) {
                    self.mark_down(&e.to_string());
                }
                Err(self.backend(&e))
            }
            Err(_) => {
                self.mark_down("no answer within the timeout");
                Err(Error::Timeout(bound))
            }
        }
    }

    /// Closes every pooled connection.
    pub(super) fn close(&self) {
        self.pool.close();
    }
}

/// Whether a command's error is the server's expected "no" (not found, not stored, exists).
pub(super) fn refusal(e: &McError) -> Option<&Status> {
    match e {
        McError::Protocol(s @ (Status::NotFound | Status::NotStored | Status::Exists)) => Some(s),
        _ => None,
    }
}
