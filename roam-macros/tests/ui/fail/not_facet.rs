pub struct NotFacet {
    pub x: u8,
}

#[roam::service]
pub trait Points {
    async fn take(&self, point: NotFacet);
    async fn give(&self) -> Option<NotFacet>;
}

fn main() {}
