#[roam::service]
pub trait S {
    #[roam(idempotent)]
    #[roam(idempotent)]
    async fn f(&self);
}

fn main() {}
