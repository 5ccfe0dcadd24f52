#[roam::service]
pub trait S {
    #[roam(retry)]
    async fn f(&self);
}

fn main() {}
