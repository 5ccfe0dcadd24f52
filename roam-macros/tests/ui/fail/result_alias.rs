#[roam::service]
pub trait Files {
    async fn read(&self, path: String) -> std::io::Result<Vec<u8>>;
}

fn main() {}
