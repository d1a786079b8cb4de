use cache_core::cache_put;

pub struct Connection;

#[cache_put(key = "conn:{id}")]
async fn open(id: u64) -> Result<Connection, String> {
    let _ = id;
    Ok(Connection)
}

fn main() {}
