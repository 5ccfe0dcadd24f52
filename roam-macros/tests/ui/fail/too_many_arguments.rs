#[roam::service]
pub trait Wide {
    async fn thirteen(
        &self,
        a: u8, b: u8, c: u8, d: u8, e: u8, f: u8, g: u8,
        h: u8, i: u8, j: u8, k: u8, l: u8, m: u8,
    );
    async fn wide_tuple(&self) -> (u8, u8, u8, u8, u8, u8, u8, u8, u8, u8, u8, u8, u8);
}

fn main() {}
