//! [`RedisStore::connect`]: from a Redis URL to a pool of connected clients (standalone,
//! cluster or sentinel, TLS), with the reconnect policy that lets an outage fail fast.

use super::*;

impl RedisStore {
    /// Connects to the deployment a Redis URL names; see the table above.
    ///
    /// Fails with [`Error::Config`] for a malformed URL and [`Error::Backend`] when the server
    /// cannot be reached (the message names the URL, never its password).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let err = cache_core::store::RedisStore::connect("redis://127.0.0.1:1?pool=zero").await.unwrap_err();
    /// assert!(matches!(err, cache_core::Error::Config(_)));
    /// # });
    /// ```
    pub async fn connect(url: &str) -> Result<Self> {
        let u = url::parse(url)?;
        let mut config = fred::prelude::Config {
            username: u.username.clone(),
            password: u.password.clone(),
            database: u.database,
            ..Default::default()
        };
        config.server = match &u.topology {
            url::Topology::Standalone => {
                let (h, p) = &u.hosts[0];
                ServerConfig::new_centralized(h.as_str(), *p)
            }
            url::Topology::Cluster => {
                ServerConfig::new_clustered(u.hosts.iter().map(|(h, p)| (h.as_str(), *p)).collect())
            }
            url::Topology::Sentinel { service } => ServerConfig::new_sentinel(
                u.hosts.iter().map(|(h, p)| (h.as_str(), *p)).collect(),
                service.as_str(),
            ),
        };
        if u.tls {
            #[cfg(feature = "redis-tls")]
            {
                let connector = fred::prelude::TlsConnector::default_rustls().map_err(|e| {
                    Error::Config(format!("{}: TLS set-up failed: {e}", u.redacted))
                })?;
                config.tls = Some(connector.into());
            }
            #[cfg(not(feature = "redis-tls"))]
            return Err(Error::Config(format!(
                "{}: TLS needs the `redis-tls` feature of cache-core",
                u.redacted
            )));
        }
        let mut builder = Builder::from_config(config);
        builder
            .with_performance_config(|p| p.default_command_timeout = u.timeout)
            .with_connection_config(|c| {
                c.connection_timeout = u.connect_timeout;
                // A command in flight when its connection drops fails instead of waiting for
                // the reconnection to be sent again: a cache runs the real work instead.
                c.max_command_attempts = 1;
                c.internal_command_timeout = u.connect_timeout;
                // A server that stops answering (but keeps the socket) is dropped and reconnected.
                c.unresponsive.max_timeout =
                    Some(u.timeout.saturating_mul(2).max(Duration::from_secs(2)));
                c.unresponsive.interval = Duration::from_millis(500);
            })
            // Keep retrying for ever, at most every 500 ms: a restarted server is picked up again.
            // The first retry comes at once: until it starts, the client still says it is
            // connected, and a command sent meanwhile would wait for the reconnection.
            .set_policy(reconnect_policy());
        let pool = builder
            .build_pool(u.pool)
            .map_err(|e| Error::Config(format!("{}: {e}", u.redacted)))?;
        let init = tokio::time::timeout(u.connect_timeout.saturating_mul(2), pool.init()).await;
        let fail = |msg: String| {
            let pool = pool.clone();
            // Stop the reconnect loop of a client we are giving up on.
            tokio::spawn(async move {
                let _ = pool.quit().await;
            });
            Error::Backend(format!(
                "cannot connect to {}: {}",
                u.redacted,
                io_text(&msg)
            ))
        };
        match init {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(fail(e.to_string())),
            Err(_) => {
                return Err(fail(format!(
                    "no connection within {:?}",
                    u.connect_timeout.saturating_mul(2)
                )))
            }
        }
        let pool_for_bus = pool.clone();
        Ok(RedisStore {
            pool,
            cluster: u.topology == url::Topology::Cluster,
            timeout: u.timeout,
            url: u.redacted.clone(),
            scripts: Scripts::new(),
            next_id: AtomicU64::new(random_seed()),
            fail_fast: Options {
                fail_fast: true,
                ..Options::default()
            },
            bus: BusCell {
                builder,
                pool: pool_for_bus,
                url: u.redacted.clone(),
                origin: random_seed(),
                cell: Arc::default(),
                versions: Arc::default(),
            },
        })
    }
}

/// Reconnection every 1, 2, 4 … ms, at most every 500 ms, for ever, without jitter.
fn reconnect_policy() -> ReconnectPolicy {
    let mut policy = ReconnectPolicy::new_exponential(0, 1, 500, 2);
    policy.set_jitter(0);
    policy
}

/// fred writes an I/O error in its `Debug` form (`IO Error: Os { code: 111, kind:
/// ConnectionRefused, message: "Connection refused" }`); this gives its text
/// (`Connection refused (os error 111)`), and any other message as it is.
fn io_text(msg: &str) -> String {
    let field = |name: &str| {
        let at = msg.find(name)? + name.len();
        let rest = &msg[at..];
        let end = rest.find([',', '}'])?;
        Some(rest[..end].trim().trim_matches('"').to_owned())
    };
    match (msg.find("Os {"), field("message: "), field("code: ")) {
        (Some(_), Some(text), Some(code)) => format!("{text} (os error {code})"),
        _ => msg.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_read_as_text() {
        assert_eq!(
            io_text(
                r#"IO Error: Os { code: 111, kind: ConnectionRefused, message: "Connection refused" }"#
            ),
            "Connection refused (os error 111)"
        );
        assert_eq!(
            io_text("Timeout Error: Connection timed out."),
            "Timeout Error: Connection timed out."
        );
    }
}
