//! [`RedisBus`]: the invalidation bus on Redis pub/sub.
//!
//! Pub/sub was chosen over RESP3 client tracking: tracking reports keys the client has *read*
//! (so every L1 promotion would need a tracked `GET` on a RESP3 connection and the server keeps a
//! per-client key table), it cannot carry pattern, tag or version invalidations, and in a
//! cluster it needs a redirect connection per node. A published message carries exactly what to
//! drop, works unchanged on standalone, Sentinel and Cluster (where `PUBLISH` reaches every
//! node), and costs one message per invalidation.
//!
//! The subscriber is a dedicated connection that fred re-subscribes after a reconnect; each
//! reconnect is delivered as [`BusEvent::Resync`], since messages sent while it was down are
//! lost.

use std::sync::{Arc, Mutex};

use fred::clients::SubscriberClient;
use fred::interfaces::{ClientLike, EventInterface, PubsubInterface};
use fred::prelude::Pool;
use fred::types::Builder;
use tokio::sync::broadcast::{self, error::RecvError};

use crate::error::{Error, Result};
use crate::store::BoxFuture;
use crate::store::{BusEvent, BusSink, Invalidation, InvalidationBus};

/// The channel every instance publishes invalidations on. Messages carry full (namespaced)
/// keys, so instances of other namespaces on the same server ignore what is not theirs.
pub const CHANNEL: &str = "cache-rs:invalidate";

#[derive(serde::Serialize, serde::Deserialize)]
struct Envelope {
    /// The publishing instance, so an instance never applies its own messages.
    origin: u64,
    message: Invalidation,
}

/// The invalidation bus on Redis pub/sub; see the module docs for why pub/sub.
///
/// ```no_run
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use cache_core::store::{RedisStore, TieredStore};
///
/// let redis = RedisStore::connect("redis://127.0.0.1:6379").await?;
/// let bus = redis.bus().await?;
/// let tiered = TieredStore::builder(Arc::new(redis)).bus(bus).build();
/// # let _ = tiered;
/// # Ok::<(), cache_core::Error>(()) }).unwrap();
/// ```
pub struct RedisBus {
    publisher: Pool,
    subscriber: SubscriberClient,
    origin: u64,
    sinks: Arc<Mutex<Vec<BusSink>>>,
    url: String,
}

impl std::fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBus")
            .field("url", &self.url)
            .field("origin", &self.origin)
            .finish()
    }
}

/// The payload published for `message` by the instance `origin`.
pub(crate) fn encode(origin: u64, message: &Invalidation) -> Result<String> {
    let env = Envelope {
        origin,
        message: message.clone(),
    };
    serde_json::to_string(&env).map_err(|e| Error::Encode(e.to_string()))
}

/// The event a received payload stands for at the instance `origin`: `None` for its own
/// messages and for anything that is not an envelope.
pub(crate) fn decode(payload: &[u8], origin: u64) -> Option<BusEvent> {
    let Ok(env) = serde_json::from_slice::<Envelope>(payload) else {
        tracing::warn!(target: "cache", "ignoring a foreign message on {CHANNEL}");
        return None;
    };
    (env.origin != origin).then_some(BusEvent::Message(env.message))
}

/// How many received messages may wait for the sinks before some are lost.
const MESSAGE_BACKLOG: usize = 1024;

/// Delivers what `rx` receives, turned into events by `event`, to every sink in order, until
/// the channel closes. Messages lost because the channel overflowed while the sinks were busy
/// are a gap like a disconnect's: it is delivered as a [`BusEvent::Resync`], and delivery goes
/// on.
async fn pump<T: Clone>(
    mut rx: broadcast::Receiver<T>,
    sinks: Arc<Mutex<Vec<BusSink>>>,
    mut event: impl FnMut(T) -> Option<BusEvent>,
) {
    loop {
        let ev = match rx.recv().await {
            Ok(item) => match event(item) {
                Some(ev) => ev,
                None => continue,
            },
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(target: "cache", missed, "invalidation messages were lost; resyncing L1");
                BusEvent::Resync
            }
            Err(RecvError::Closed) => return,
        };
        let sinks: Vec<BusSink> = lock(&sinks).clone();
        for sink in sinks {
            sink(ev.clone()).await;
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl RedisBus {
    /// Connects a subscriber built from `builder` and starts listening.
    pub(crate) async fn start(
        builder: &Builder,
        publisher: Pool,
        origin: u64,
        url: String,
    ) -> Result<Self> {
        // Room for a burst of messages while the sinks are busy; one that still overflows it
        // is a gap, delivered as a resync (see `pump`).
        let mut builder = builder.clone();
        builder.with_performance_config(|p| p.broadcast_channel_capacity = MESSAGE_BACKLOG);
        let subscriber = builder
            .build_subscriber_client()
            .map_err(|e| Error::Config(format!("{url}: {e}")))?;
        let sinks: Arc<Mutex<Vec<BusSink>>> = Arc::default();
        // Deliver messages in order, one at a time, to every sink.
        tokio::spawn(pump(
            subscriber.message_rx(),
            Arc::clone(&sinks),
            move |msg: fred::types::Message| decode(msg.value.as_bytes()?, origin),
        ));
        let mut reconnects = subscriber.reconnect_rx();
        let re_sinks = Arc::clone(&sinks);
        let resubscriber = subscriber.clone();
        tokio::spawn(async move {
            let mut first = true;
            loop {
                match reconnects.recv().await {
                    Ok(_) if std::mem::take(&mut first) => continue, // the initial connection
                    // Reconnect events lost to an overflow were reconnects all the same.
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                }
                first = false;
                if let Err(e) = resubscriber.resubscribe_all().await {
                    tracing::warn!(target: "cache", error = %e, "re-subscribing to invalidations failed");
                }
                tracing::info!(target: "cache", "invalidation subscriber reconnected; resyncing L1");
                let sinks: Vec<BusSink> = lock(&re_sinks).clone();
                for sink in sinks {
                    sink(BusEvent::Resync).await;
                }
            }
        });
        let connect = async {
            subscriber.init().await?;
            subscriber.subscribe(CHANNEL).await
        };
        match tokio::time::timeout(std::time::Duration::from_secs(5), connect).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = subscriber.quit().await;
                return Err(Error::Backend(format!(
                    "{url}: subscribing to invalidations: {e}"
                )));
            }
            Err(_) => {
                let _ = subscriber.quit().await;
                return Err(Error::Backend(format!(
                    "{url}: subscribing to invalidations timed out"
                )));
            }
        }
        Ok(Self {
            publisher,
            subscriber,
            origin,
            sinks,
            url,
        })
    }
}

impl InvalidationBus for RedisBus {
    fn publish<'a>(&'a self, message: &'a Invalidation) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let payload = encode(self.origin, message)?;
            let _: i64 = self
                .publisher
                .next()
                .publish(CHANNEL, payload)
                .await
                .map_err(|e| Error::Backend(format!("{} ({})", e, self.url)))?;
            Ok(())
        })
    }

    fn subscribe(&self, sink: BusSink) {
        lock(&self.sinks).push(sink);
    }
}

impl Drop for RedisBus {
    fn drop(&mut self) {
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let subscriber = self.subscriber.clone();
            rt.spawn(async move {
                let _ = subscriber.quit().await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_overflow_is_delivered_as_a_resync_and_delivery_goes_on() {
        let keys = |n: u32| BusEvent::Message(Invalidation::Keys(vec![format!("k{n}")]));
        let (tx, rx) = broadcast::channel::<u32>(4);
        let seen: Arc<Mutex<Vec<BusEvent>>> = Arc::default();
        let into = Arc::clone(&seen);
        let sink: BusSink = Arc::new(move |ev| {
            lock(&into).push(ev);
            Box::pin(async {})
        });
        // Six sent before anything is received: the two oldest are lost; 4 is filtered out.
        for n in 0..6 {
            tx.send(n).unwrap();
        }
        drop(tx);
        pump(rx, Arc::new(Mutex::new(vec![sink])), move |n| {
            (n != 4).then(|| keys(n))
        })
        .await;
        assert_eq!(
            *lock(&seen),
            vec![BusEvent::Resync, keys(2), keys(3), keys(5)]
        );
    }
}
