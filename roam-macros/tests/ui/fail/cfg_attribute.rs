#[roam::service]
pub trait S {
    #[cfg(feature = "extra")]
    async fn f(&self);
}

fn main() {}
