//! The store conformance suite on the in-memory store.

use std::sync::Arc;

use cache_core::store::{Capabilities, Capability, MemoryStore, Store, TieredStore};
use cache_core::testing::{self, Limited};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_passes_the_conformance_suite() {
    testing::conformance(Arc::new(MemoryStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entry_bounded_memory_store_passes_the_conformance_suite() {
    testing::conformance(Arc::new(
        MemoryStore::builder().max_entries(100_000).build(),
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiered_store_over_memory_passes_the_conformance_suite() {
    let l2 = Arc::new(MemoryStore::new());
    testing::conformance(Arc::new(
        cache_core::store::TieredStore::builder(l2).build(),
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_tiers_of_memory_pass_the_conformance_suite() {
    let tiers: Vec<Arc<dyn Store>> = (0..3)
        .map(|_| Arc::new(MemoryStore::new()) as Arc<dyn Store>)
        .collect();
    let ran = testing::conformance(Arc::new(TieredStore::stack(tiers).unwrap().build())).await;
    assert!(
        ran.contains(&"tags") && ran.contains(&"patterns"),
        "{ran:?}"
    );
}

/// A store that declares only the required core: every check that applies passes (tags are
/// emulated with stamps), and every other undeclared capability is refused with `Unsupported`
/// rather than pretended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_with_only_the_core_passes_and_refuses_the_rest() {
    let core = Limited::new(Arc::new(MemoryStore::new()), Capabilities::NONE);
    let ran = testing::conformance(Arc::new(core)).await;
    for skipped in ["tags", "patterns", "counters", "expire", "take"] {
        assert!(!ran.contains(&skipped), "{ran:?}");
    }
    assert!(ran.contains(&"tags_emulated"), "{ran:?}");
}

/// Each capability alone: its checks run and pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_capability_alone_passes_its_checks() {
    for (cap, check) in [
        (Capability::PatternScan, "patterns"),
        (Capability::NativeTags, "tags"),
        (Capability::AtomicCounters, "counters"),
        (Capability::Take, "take"),
    ] {
        let store = Limited::new(Arc::new(MemoryStore::new()), Capabilities::NONE.with(cap));
        let ran = testing::conformance(Arc::new(store)).await;
        assert!(ran.contains(&check), "{cap:?}: {ran:?}");
    }
}

/// Tiers over a shared store with no tag index: tags are emulated, and a value copied into the
/// first tier is still checked against its tags' stamps on every read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiers_over_a_store_without_tags_emulate_them() {
    let all: Capabilities = Capability::ALL.into_iter().collect();
    let bottom = Limited::new(
        Arc::new(MemoryStore::new()),
        all.without(Capability::NativeTags),
    );
    let tiers: Vec<Arc<dyn Store>> = vec![Arc::new(MemoryStore::new()), Arc::new(bottom)];
    let ran = testing::conformance(Arc::new(TieredStore::stack(tiers).unwrap().build())).await;
    assert!(ran.contains(&"tags_emulated"), "{ran:?}");
}
