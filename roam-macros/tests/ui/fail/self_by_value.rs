#[roam::service]
pub trait Counter {
    async fn consume(self) -> u64;
    async fn boxed(self: Box<Self>) -> u64;
}

fn main() {}
