use std::borrow::Cow;

#[roam::service]
pub trait Memory {
    async fn borrowed(&self, name: &'static str);
    async fn cow(&self, name: Cow<'static, str>);
}

fn main() {}
