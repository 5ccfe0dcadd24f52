#[roam::service]
pub trait Geometry {
    async fn length(&self, (x, y): (f64, f64)) -> f64;
    async fn ignore(&self, _: u8);
}

fn main() {}
