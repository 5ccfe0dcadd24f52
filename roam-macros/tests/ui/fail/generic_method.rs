#[roam::service]
pub trait Store {
    async fn get<K>(&self, key: K) -> Option<String>;
}

fn main() {}
