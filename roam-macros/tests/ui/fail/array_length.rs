const LEN: usize = 32;

#[roam::service]
pub trait Keys {
    async fn set(&self, key: [u8; LEN]);
}

fn main() {}
