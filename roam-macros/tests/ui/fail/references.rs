#[roam::service]
pub trait Memory {
    async fn by_ref(&self, data: &Vec<u8>);
    async fn by_mut(&self, data: &mut [u8]);
    async fn nested(&self, names: Vec<&str>);
    async fn returned(&self) -> &str;
}

fn main() {}
