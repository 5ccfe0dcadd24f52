#[roam::service]
pub unsafe trait Store {
    async fn get(&self, key: String) -> Option<String>;
}

fn main() {}
