use roam::Rx;

#[roam::service]
pub trait Counter {
    async fn count(&self, upto: u32) -> Rx<u32>;
}

fn main() {}
