//! `Cache::global()` without `Cache::set_global` follows the environment, as `Cache::from_env`
//! does: a forgotten `set_global` no longer splits the macros' cache from the handlers' one on
//! the configuration that needs no connection. Its own test binary: the global cache and the
//! environment belong to the process.

use cache_core::Cache;

#[test]
fn the_global_default_follows_cache_url_and_prefix() {
    std::env::set_var("CACHE_URL", "mem://?max_entries=10");
    std::env::set_var("CACHE_PREFIX", "from-env");
    std::env::set_var("CACHE_TTL_DEFAULT", "90s");
    let global = Cache::global();
    assert_eq!(global.prefix(), "from-env");
    assert_eq!(global.store().name(), "memory");
    assert_eq!(
        global.default_ttl(),
        Some(std::time::Duration::from_secs(90))
    );
    assert!(Cache::global().same_as(global));
}
