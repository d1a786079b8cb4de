//! `delete_pattern` over 100,000 keys on a 3-master cluster removes exactly the matching keys.

use cache_core::testing::RedisCluster;
use cache_core::Cache;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_pattern_removes_exactly_100k_matching_keys_across_the_cluster() {
    const MATCHING: usize = 100_000;
    const OTHERS: usize = 2_000;
    let cluster = RedisCluster::start(3);
    let cache = Cache::builder()
        .url(cluster.url())
        .prefix("bulk")
        .build()
        .await
        .expect("connect");

    for chunk in (0..MATCHING).collect::<Vec<_>>().chunks(5_000) {
        let entries: Vec<(String, u32)> = chunk
            .iter()
            .map(|&i| (format!("session:{i}"), i as u32))
            .collect();
        cache
            .set_many(entries.iter().map(|(k, v)| (k.as_str(), v)), ())
            .await
            .expect("set_many");
    }
    // Survivors: close to the pattern but not matching it.
    let others: Vec<(String, u32)> = (0..OTHERS)
        .map(|i| {
            (
                if i % 2 == 0 {
                    format!("sessions:{i}")
                } else {
                    format!("user:{i}:session:1")
                },
                i as u32,
            )
        })
        .collect();
    cache
        .set_many(others.iter().map(|(k, v)| (k.as_str(), v)), ())
        .await
        .expect("set_many");
    assert_eq!(cluster.dbsize(), (MATCHING + OTHERS) as u64, "keys written");
    // Every master holds a share: the pattern must visit all of them.
    for node in cluster.nodes() {
        let n: u64 = node.cli(&["DBSIZE"]).trim().parse().unwrap();
        assert!(n > 10_000, "node {} holds only {n} keys", node.port());
    }

    let deleted = cache
        .delete_pattern("session:*")
        .await
        .expect("delete_pattern");
    assert_eq!(deleted, MATCHING as u64, "deleted count");
    assert_eq!(cluster.dbsize(), OTHERS as u64, "survivors");
    assert!(cache.keys("session:*").await.unwrap().is_empty());
    let mut left = cache.keys("*").await.unwrap();
    left.sort();
    let mut expected: Vec<String> = others.into_iter().map(|(k, _)| k).collect();
    expected.sort();
    assert_eq!(left, expected);
}
