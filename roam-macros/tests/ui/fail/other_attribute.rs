#[roam::service]
pub trait S {
    #[deprecated]
    async fn f(&self);
}

fn main() {}
