#[roam::service]
pub trait Greeter {
    async fn greet(&self, name: Box<dyn std::fmt::Display + Send>) -> String;
}

fn main() {}
