#[roam::service]
pub trait Memory {
    async fn callback(&self, f: fn(u8) -> u8);
    async fn unsized_slice(&self, data: Box<[u8]>);
}

fn main() {}
