//! A tagged value that a reader can already see must be purgeable by its tag: the Redis store
//! once wrote the value and its tag links concurrently, so a purge right after a read could
//! find no link and leave the value behind.

use cache_core::testing::RedisServer;
use cache_core::SetOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visible_tagged_value_is_always_purged_by_its_tag() {
    let server = RedisServer::start();
    let writer = server.cache("race", "", "").await;
    let reader = server.cache("race", "", "").await;
    for i in 0..200 {
        let key = format!("k{i}");
        let tag = format!("t{i}");
        let set = {
            let (writer, key, tag) = (writer.clone(), key.clone(), tag.clone());
            tokio::spawn(async move { writer.set_with(&key, &i, SetOptions::new().tag(tag)).await })
        };
        // As soon as the value is visible, purge its tag: it must go.
        while reader.get::<i32>(&key).await.unwrap().is_none() {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            reader.invalidate_tags([&tag]).await.unwrap(),
            1,
            "round {i}: purge missed a visible value"
        );
        set.await.unwrap().unwrap();
        assert_eq!(
            reader.get::<i32>(&key).await.unwrap(),
            None,
            "round {i}: value survived its purge"
        );
    }
}
