/// Every error in this trait is reported in one compilation.
#[roam::service]
pub trait Messy {
    fn not_async(&self);
    async fn mutable(&mut self);
    async fn generic<T>(&self, value: T);
    async fn opaque(&self, value: impl Send);
    async fn fine(&self, value: u32) -> u32;
    async fn pointer(&self) -> *const u8;
}

fn main() {}
