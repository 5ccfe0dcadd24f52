#[roam::service]
pub trait Index {
    async fn get(&self, key: String) -> Option<u64>;
    async fn get(&self, key: u64) -> Option<u64>;
}

fn main() {}
