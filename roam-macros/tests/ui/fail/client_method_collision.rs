#[roam::service]
pub trait Factory {
    async fn new(&self) -> u64;
    async fn connection(&self) -> u64;
    async fn clone(&self) -> u64;
}

fn main() {}
