use cache_core::cached;

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Report {
    pub rows: u64,
}

#[cached(key = "report:{id}")]
async fn report(id: u64) -> Option<Report> {
    Some(Report { rows: id })
}

fn main() {}
