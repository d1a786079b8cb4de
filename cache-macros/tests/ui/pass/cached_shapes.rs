//! Every function shape `#[cached]` accepts.
use std::sync::Arc;

use cache_core::{cached, Cache};

#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct User {
    id: u64,
}

#[cached(key = "a:{id}")]
async fn result(id: u64) -> Result<User, std::io::Error> {
    Ok(User { id })
}

#[cached(key = "b:{id}")]
async fn alias_result(id: u64) -> std::io::Result<User> {
    if id == 0 {
        return Err(std::io::Error::other("zero"));
    }
    let user = result(id).await?;
    Ok(user)
}

#[cached(key = "c:{id}")]
async fn option(id: u64) -> Option<User> {
    Some(User { id })
}

#[cached(key = "d")]
async fn plain() -> Vec<u8> {
    vec![1]
}

#[cached(key = "e")]
async fn unit() {}

/// Docs, other attributes and visibility are kept.
#[cached(key = "f:{x}")]
#[inline]
pub(crate) async fn generic<T>(x: T) -> String
where
    T: std::fmt::Display + Send,
{
    x.to_string()
}

#[cached(key = "g:{n}")]
async fn impl_trait_arg(n: u32, items: impl IntoIterator<Item = u32>) -> u32 {
    n + items.into_iter().sum::<u32>()
}

#[cached]
async fn no_key(a: String, b: (u8, bool), c: Option<Vec<i64>>) -> usize {
    a.len() + usize::from(b.0) + c.map_or(0, |c| c.len())
}

#[cached(key = "h:{pair.0}:{user.id}:{{braces}}")]
async fn field_paths(pair: (u8, u8), user: &User) -> u8 {
    let _ = user;
    pair.1
}

#[cached(key = "i:{a}:{b}")]
async fn patterns((a, b): (u32, u32), User { id: _ }: User) -> u32 {
    a + b
}

#[cached(key = "lifetimes:{s}")]
async fn lifetimes<'a>(s: &'a str, _t: &'a [u8]) -> String {
    s.to_owned()
}

pub struct Repo {
    cache: Cache,
    shared: Arc<Cache>,
    tenant: String,
}

impl Repo {
    #[cached(key = "{self.tenant}:{id}", cache = self.cache)]
    pub async fn by_ref(&self, id: u64) -> Option<User> {
        Some(User { id })
    }

    #[cached(key = "{id}", cache = self.shared)]
    async fn by_mut(&mut self, id: u64) -> u64 {
        self.tenant.push('x');
        id
    }

    #[cached(key = "by-value:{id}")]
    async fn by_value(self, id: u64) -> u64 {
        drop(self);
        id
    }

    #[cached(key = "arc:{id}", cache = self.cache)]
    async fn arc_self(self: Arc<Self>, id: u64) -> u64 {
        id
    }

    #[cached(cache = self.cache)]
    async fn method_no_key(&self, id: u64) -> Self2 {
        Self2(id)
    }

    #[cached(key = "assoc:{id}")]
    async fn associated(id: u64) -> u64 {
        id
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
#[derive(Clone)]
pub struct Self2(u64);

pub trait Loader {
    fn load(&self, id: u64) -> impl std::future::Future<Output = u64> + Send;
}

impl Loader for Repo {
    #[cached(key = "trait:{id}", cache = self.cache)]
    async fn load(&self, id: u64) -> u64 {
        id
    }
}

fn assert_send<T: Send>(_: T) {}

fn main() {
    let repo = Repo { cache: Cache::memory(), shared: Arc::new(Cache::memory()), tenant: "t".into() };
    assert_send(result(1));
    assert_send(repo.by_ref(1));
    assert_send(no_key(String::new(), (1, true), None));
    let _ = (alias_result(1), option(1), plain(), unit(), generic(1), impl_trait_arg(1, [1]));
    let _ = (field_paths((1, 2), &User { id: 1 }), patterns((1, 2), User { id: 3 }));
    let _ = (lifetimes("x", &[]), repo.method_no_key(1), Repo::associated(1));
}
