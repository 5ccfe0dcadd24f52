// Read as text by `schema_agreement.rs` (not compiled: it needs the runtime's macro).

use std::collections::HashMap;

/// A service over the kitchen-sink types.
#[roam::service]
pub trait Atlas {
    /// Looks a point up.
    #[roam(idempotent)]
    async fn locate(&self, cx: &roam::Context, name: &str, near: Point) -> Option<Point>;
    async fn draw(&self, shapes: Vec<Shape>, scale: f64) -> Result<Page<Shape>, Outer>;
    async fn upload(&self, data: &[u8], meta: HashMap<String, Pair>) -> (u64, [u8; 4]);
    async fn ping(&self);
    async fn grow(&self, tree: Tree, settings: Settings) -> Result<Tree, String>;
    async fn watch(&self, region: Pairing<Point, Point>, updates: Tx<Expr>, commands: Rx<Inner>) -> u32;
    async fn everything(&self, all: Everything, nest: Nest, forest: Forest) -> Either<Primitives, List<Meters>>;
    async fn register(&self, profile: Profile, cased: Cased) -> Result<Profile, Status>;
}
