#[roam::service]
pub trait Store {
    async fn get(&self, key: String) -> Option<String> {
        None
    }
}

fn main() {}
