#[roam::service]
pub trait Greeter {
    async fn greet(&self, name: String, cx: &roam::Context) -> String;
}

fn main() {}
