#[roam::service]
pub trait Store {
    const LIMIT: usize;
    async fn get(&self, key: String) -> Option<String>;
}

fn main() {}
