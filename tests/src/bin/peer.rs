//! Run with: cargo run -p cache-e2e --bin peer   (driven by the end-to-end tests)
//!
//! A second process with a `Cache` from `CACHE_URL`/`CACHE_PREFIX`, answering one command per
//! line on stdin:
//! - `get KEY` → `value JSON` or `none`
//! - `set KEY JSON` → `ok`
//! - `l1 KEY` → `yes` if the tiered store's memory tier holds the key, else `no`
//! - `wait_gone KEY` → `watching`, then `gone MICROS` (Unix time when the memory tier stopped
//!   holding the key) or `timeout` after 10 s
//! - `stats` → the store stats (with one row per tier) as JSON
//! - `version` → `version N`, the namespace version this process sees

use std::time::{Duration, Instant};

use cache_core::store::LocalRead;
use cache_core::Cache;
use tokio::io::{AsyncBufReadExt, BufReader};

async fn in_l1(cache: &Cache, key: &str) -> bool {
    let Ok(full) = cache.full_key(key) else {
        return false;
    };
    matches!(cache.store().get_local(&full), LocalRead::Hit(_))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let cache = match Cache::from_env().await {
        Ok(c) => c,
        Err(e) => {
            println!("error {e}");
            return;
        }
    };
    println!("ready");
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let (cmd, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        match cmd {
            "get" => match cache.get::<serde_json::Value>(rest).await {
                Ok(Some(v)) => println!("value {v}"),
                Ok(None) => println!("none"),
                Err(e) => println!("error {e}"),
            },
            "set" => {
                let (key, json) = rest.split_once(' ').unwrap_or((rest, "null"));
                let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
                match cache.set(key, &v).await {
                    Ok(()) => println!("ok"),
                    Err(e) => println!("error {e}"),
                }
            }
            "l1" => println!(
                "{}",
                if in_l1(&cache, rest).await {
                    "yes"
                } else {
                    "no"
                }
            ),
            "wait_gone" => {
                println!("watching");
                let deadline = Instant::now() + Duration::from_secs(10);
                loop {
                    if !in_l1(&cache, rest).await {
                        println!("gone {}", cache_e2e::now_micros());
                        break;
                    }
                    if Instant::now() > deadline {
                        println!("timeout");
                        break;
                    }
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
            }
            "stats" => {
                let s = cache.store().stats();
                println!("{}", serde_json::to_string(&s).unwrap_or_default());
            }
            "version" => println!("version {}", cache.version()),
            "quit" => break,
            other => println!("error unknown command {other:?}"),
        }
    }
}
