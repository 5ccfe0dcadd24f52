#[roam::service]
pub trait Memory {
    async fn len(&self, index: usize) -> isize;
}

fn main() {}
