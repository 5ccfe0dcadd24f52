#[roam::service]
pub trait Store {
    fn get(&self, key: String) -> Option<String>;
}

fn main() {}
