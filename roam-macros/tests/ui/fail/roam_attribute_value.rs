#[roam::service]
pub trait S {
    #[roam(idempotent = true)]
    async fn f(&self);
}

fn main() {}
