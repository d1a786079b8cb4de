//! Which Memcached server holds a key: a consistent-hash ring (ketama-style) on `hashring`.
//!
//! Each server stands on the ring at [`POINTS`] places named after its address, so adding or
//! removing one server moves only the keys nearest its points (about 1/n of them), and every
//! process given the same server list, in any order, sends a key to the same server. Points and
//! keys are placed with blake3, which is stable across builds and platforms (the standard
//! library's hasher is not promised to be).

use std::hash::{BuildHasher, Hash, Hasher};

use hashring::HashRing;

/// Places each server takes on the ring.
pub(super) const POINTS: usize = 160;

/// One of a server's places on the ring.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Point {
    server: usize,
    label: String,
}

impl Hash for Point {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.label.hash(state);
    }
}

/// A `Hasher` over blake3: the first 8 bytes of the digest of everything written.
#[derive(Default)]
struct Blake3Hasher(blake3::Hasher);

impl Hasher for Blake3Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        let mut first = [0u8; 8];
        first.copy_from_slice(&self.0.finalize().as_bytes()[..8]);
        u64::from_le_bytes(first)
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Blake3Build;

impl BuildHasher for Blake3Build {
    type Hasher = Blake3Hasher;
    fn build_hasher(&self) -> Blake3Hasher {
        Blake3Hasher::default()
    }
}

/// The ring over a list of server addresses (`host:port`).
pub(super) struct Ring {
    ring: HashRing<Point, Blake3Build>,
    servers: usize,
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("servers", &self.servers)
            .finish()
    }
}

impl Ring {
    pub(super) fn new(addrs: &[String]) -> Self {
        let mut ring = HashRing::with_hasher(Blake3Build);
        for (server, addr) in addrs.iter().enumerate() {
            ring.batch_add(
                (0..POINTS)
                    .map(|i| Point {
                        server,
                        label: format!("{addr}-{i}"),
                    })
                    .collect(),
            );
        }
        Self {
            ring,
            servers: addrs.len(),
        }
    }

    /// The index (into the address list) of the server holding `key`.
    pub(super) fn server(&self, key: &str) -> usize {
        if self.servers <= 1 {
            return 0;
        }
        self.ring.get(&key).map_or(0, |p| p.server)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("10.0.0.{i}:11211")).collect()
    }

    #[test]
    fn keys_spread_over_every_server_and_adding_one_moves_few() {
        let three = Ring::new(&addrs(3));
        let four = Ring::new(&addrs(4));
        let keys: Vec<String> = (0..10_000).map(|i| format!("app:v1:k{i}")).collect();
        let mut per = [0usize; 3];
        let mut moved = 0;
        for k in &keys {
            let s = three.server(k);
            per[s] += 1;
            let s4 = four.server(k);
            if s4 != s {
                moved += 1;
                assert_eq!(s4, 3, "{k}: a key moved between old servers");
            }
        }
        assert!(per.iter().all(|&n| n > 2_500), "uneven spread: {per:?}");
        // About a quarter of the keys go to the new server; none move between the old ones.
        assert!((1_500..3_500).contains(&moved), "{moved} of 10000 moved");
    }

    #[test]
    fn placement_does_not_depend_on_the_order_servers_are_listed() {
        let a = Ring::new(&["a:1".into(), "b:1".into(), "c:1".into()]);
        let b = Ring::new(&["c:1".into(), "a:1".into(), "b:1".into()]);
        let name = |r: &Ring, list: [&str; 3], k: &str| list[r.server(k)].to_owned();
        for i in 0..1000 {
            let k = format!("k{i}");
            assert_eq!(
                name(&a, ["a:1", "b:1", "c:1"], &k),
                name(&b, ["c:1", "a:1", "b:1"], &k)
            );
        }
    }
}
