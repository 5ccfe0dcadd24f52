#[roam::service]
pub trait Store {
    type Key;
    async fn get(&self, key: String) -> Option<String>;
}

fn main() {}
