#[roam::service]
pub trait Greeter {
    async fn greet(&self, name: String) -> impl std::fmt::Display;
}

fn main() {}
