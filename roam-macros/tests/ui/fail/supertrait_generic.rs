#[roam::service]
pub trait Store: AsRef<str> + Send {
    async fn get(&self, key: String) -> Option<String>;
}

fn main() {}
