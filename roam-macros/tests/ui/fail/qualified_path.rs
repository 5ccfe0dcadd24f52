#[roam::service]
pub trait Index {
    async fn first(&self, items: Vec<u8>) -> <Vec<u8> as IntoIterator>::Item;
}

fn main() {}
