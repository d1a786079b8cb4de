use cache_core::memoize;

pub struct Client {
    base: String,
}

impl Client {
    #[memoize]
    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }
}

fn main() {}
