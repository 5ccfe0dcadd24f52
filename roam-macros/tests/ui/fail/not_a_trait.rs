#[roam::service]
pub struct NotATrait {
    pub x: u8,
}

fn main() {}
