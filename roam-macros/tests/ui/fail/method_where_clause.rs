#[roam::service]
pub trait Store {
    async fn get(&self, key: String) -> Option<String>
    where
        Self: Sync;
}

fn main() {}
