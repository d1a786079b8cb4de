use bytes::Bytes;
use cache_core::{Cache, SetOptions};
use std::time::{Duration, Instant};
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cache = Cache::memory();
    let n = 20000;
    let v = Bytes::from(vec![b'x'; 1200]);
    for tags in [false, true] {
        let t = Instant::now();
        for i in 0..n {
            let mut o = SetOptions::new().ttl(Duration::from_secs(3600));
            if tags {
                o = o.tag(format!("rc-uri:{i}"));
            }
            cache
                .set_bytes(&format!("k{tags}{i}"), v.clone(), o)
                .await
                .unwrap();
        }
        println!(
            "set tags={tags}: {:.2} us/op",
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        );
    }
    let t = Instant::now();
    for i in 0..n {
        let _ = cache.get_bytes(&format!("nope{i}")).await.unwrap();
    }
    println!(
        "get miss: {:.2} us/op",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    let t = Instant::now();
    for i in 0..n {
        let _ = cache.get_bytes(&format!("ktrue{i}")).await.unwrap();
    }
    println!(
        "get hit: {:.2} us/op",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
}
