#[roam::service]
pub trait Store
where
    Self: Sized,
{
    async fn get(&self, key: String) -> Option<String>;
}

fn main() {}
