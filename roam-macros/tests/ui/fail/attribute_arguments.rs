#[roam::service(fast)]
pub trait S {
    async fn f(&self);
}

fn main() {}
