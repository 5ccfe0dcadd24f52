#[roam::service]
pub trait Store {
    async unsafe fn get(&self, key: String) -> Option<String>;
    async extern "C" fn put(&self, key: String);
}

fn main() {}
