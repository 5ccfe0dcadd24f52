#[roam::service]
pub trait Memory {
    async fn read(&self, at: *const u8) -> u8;
}

fn main() {}
