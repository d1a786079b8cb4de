//! The store conformance suite on the in-memory store.

use std::sync::Arc;

use cache_core::{store::MemoryStore, testing};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_passes_the_conformance_suite() {
    testing::conformance(Arc::new(MemoryStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entry_bounded_memory_store_passes_the_conformance_suite() {
    testing::conformance(Arc::new(MemoryStore::builder().max_entries(100_000).build())).await;
}
