//! The kitchen-sink service (`roam-codegen/tests/kitchen_sink/`: every type shape roam
//! accepts), implemented for real so clients in other languages can call every method of it,
//! plus `Probe`, whose handlers report what happened to them (cancelled, timed out) so those
//! clients can observe cancellation on the Rust side.
//!
//! Every answer is a pure function of the arguments, documented per method, so a client can
//! check it without sharing code.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use roam::{Rx, Tx};

#[path = "../../roam-codegen/tests/kitchen_sink/types.rs"]
#[allow(missing_docs, dead_code)]
pub mod types;

pub use types::*;

#[allow(missing_docs)]
mod service {
    use super::types::*;
    use roam::{Rx, Tx};
    include!("../../roam-codegen/tests/kitchen_sink/service.rs");
}

pub use service::{Atlas, AtlasClient, AtlasDispatcher};

/// The [`Atlas`] implementation.
#[derive(Debug, Default, Clone, Copy)]
pub struct Kitchen;

impl Atlas for Kitchen {
    /// `"origin"` → `(0, 0)`, `"near"` → `near`, anything else → `None`.
    async fn locate(&self, _cx: &roam::Context, name: &str, near: Point) -> Option<Point> {
        match name {
            "origin" => Some(Point { x: 0, y: 0 }),
            "near" => Some(near),
            _ => None,
        }
    }

    /// No shapes → `Err(Outer::C)`; otherwise the shapes back as a page, `next` the scale
    /// printed by Rust, `total` the count.
    async fn draw(&self, shapes: Vec<Shape>, scale: f64) -> Result<Page<Shape>, Outer> {
        if shapes.is_empty() {
            return Err(Outer::C);
        }
        let total = shapes.len() as u64;
        Ok(Page {
            items: shapes,
            next: Some(format!("{scale}")),
            total,
        })
    }

    /// `(data.len() + the sum of every pair's u8, the first four bytes, zero-padded)`.
    async fn upload(&self, data: &[u8], meta: HashMap<String, Pair>) -> (u64, [u8; 4]) {
        let mut head = [0u8; 4];
        for (slot, b) in head.iter_mut().zip(data) {
            *slot = *b;
        }
        let sum: u64 = meta.values().map(|p| u64::from(p.0)).sum();
        (data.len() as u64 + sum, head)
    }

    async fn ping(&self) {}

    /// `retries > 3` → `Err(name)`; otherwise the tree with one more child, valued `depth`.
    async fn grow(&self, mut tree: Tree, settings: Settings) -> Result<Tree, String> {
        if settings.retries > 3 {
            return Err(settings.name);
        }
        tree.children.push(Tree {
            value: i64::from(settings.depth),
            children: Vec::new(),
        });
        Ok(tree)
    }

    /// For every command, sends one expression (`X` → `Lit(0)`, `Y(n)` → `Lit(n)`,
    /// `Z{..}` → `Neg(Lit(-1))`) and returns how many commands came, plus `region.left.x`.
    async fn watch(
        &self,
        region: Pairing<Point, Point>,
        updates: Tx<Expr>,
        mut commands: Rx<Inner>,
    ) -> u32 {
        let mut n = 0u32;
        while let Ok(Some(cmd)) = commands.recv().await {
            let expr = match cmd {
                Inner::X => Expr::Lit(0),
                Inner::Y(v) => Expr::Lit(i64::from(v)),
                Inner::Z { .. } => Expr::Neg(Box::new(Expr::Lit(-1))),
            };
            if updates.send(expr).await.is_err() {
                break;
            }
            n += 1;
        }
        n.wrapping_add(region.left.x as u32)
    }

    /// When `all.tuple.0` is true: `Left(Primitives)` filled from `all`'s fields (see the
    /// body); otherwise `Right` of the list `[bytes.len, list.len, map.len + btree.len,
    /// nest.kids.len + forest.trees.len]` as `Meters`.
    async fn everything(
        &self,
        all: Everything,
        nest: Nest,
        forest: Forest,
    ) -> Either<Primitives, List<Meters>> {
        if all.tuple.0 {
            return Either::Left(Primitives {
                b: all.tuple.0,
                u_8: all.array[0],
                u_16: all.grid[0][0] as u16,
                u_32: all.points[1].y as u32,
                u_64: all.page.total,
                u_128: (all.tuple.2).0,
                i_8: -1,
                i_16: all.grid[2][1],
                i_32: all.boxed.x,
                i_64: all.list_of.head.tag_value(),
                i_128: -((all.tuple.2).0 as i128),
                f_32: 0.5,
                f_64: all.one.0.0,
                c: all.tuple.1,
                s: all.settings.name,
                unit: (),
            });
        }
        let meters = |v: usize| Meters(v as f64);
        Either::Right(List {
            head: meters(all.bytes.len()),
            tail: Some(Box::new(List {
                head: meters(all.list.len()),
                tail: Some(Box::new(List {
                    head: meters(all.map.len() + all.btree.len()),
                    tail: Some(Box::new(List {
                        head: meters(nest.kids.len() + forest.trees.len()),
                        tail: None,
                    })),
                })),
            })),
        })
    }

    /// `Banned` → `Err(the status)`; otherwise the profile back with `level + retries` and
    /// `type` = `"{full_name}/{HTTPServer}/{a1b2_c}/{overridden}"` of `cased`. `retries` is
    /// `#[facet(skip, default = 3)]`, so whatever the caller's value, it is 3 here; `cache`
    /// is skipped too, so it arrives (and goes back) empty.
    async fn register(&self, profile: Profile, cased: Cased) -> Result<Profile, Status> {
        if let Status::Banned(..) = profile.status {
            return Err(profile.status);
        }
        Ok(Profile {
            level: profile.level.wrapping_add(profile.retries),
            r#type: format!(
                "{}/{}/{}/{}",
                cased.full_name, cased.HTTPServer, cased.a1b2_c, cased.overridden
            ),
            ..profile
        })
    }
}

impl Shape {
    /// A number per variant, for [`Kitchen::everything`]'s answer.
    fn tag_value(&self) -> i64 {
        match self {
            Shape::Empty => 0,
            Shape::Circle(_) => 1,
            Shape::Rect { w, h } => i64::from(*w) * i64::from(*h),
            Shape::Poly(points) => points.len() as i64,
            Shape::Labelled(_, inner) => 100 + inner.tag_value(),
        }
    }
}

/// Handlers that report what became of them.
#[roam::service]
pub trait Probe {
    /// Waits until the call is cancelled (or its deadline passes); never answers.
    async fn hang(&self, tag: u32) -> u32;
    /// How many `hang` handlers are running now.
    async fn hanging(&self) -> u32;
    /// How many `hang` handlers have been stopped so far.
    async fn stopped(&self) -> u32;
    /// How many ms were left of the caller's deadline when the handler started, or `None`
    /// without one (so a caller can check that its timeout went on the wire).
    async fn deadline_ms(&self, cx: &roam::Context) -> Option<u64>;
    /// The name of the identity the server's authenticator gave this session, if any.
    async fn identity(&self, cx: &roam::Context) -> Option<String>;
}

/// The [`Probe`] implementation; clones share the counters.
#[derive(Debug, Default, Clone)]
pub struct Prober {
    hanging: Arc<AtomicU32>,
    stopped: Arc<AtomicU32>,
}

/// Counts a `hang` handler as running while it exists and as stopped once its future is
/// dropped (which is how the runtime stops a handler).
struct Hanging(Prober);

impl Drop for Hanging {
    fn drop(&mut self) {
        self.0.hanging.fetch_sub(1, Ordering::SeqCst);
        self.0.stopped.fetch_add(1, Ordering::SeqCst);
    }
}

impl Probe for Prober {
    async fn hang(&self, tag: u32) -> u32 {
        self.hanging.fetch_add(1, Ordering::SeqCst);
        let _guard = Hanging(self.clone());
        std::future::pending::<()>().await;
        tag
    }

    async fn hanging(&self) -> u32 {
        self.hanging.load(Ordering::SeqCst)
    }

    async fn stopped(&self) -> u32 {
        self.stopped.load(Ordering::SeqCst)
    }

    async fn deadline_ms(&self, cx: &roam::Context) -> Option<u64> {
        cx.deadline().map(|d| {
            let left = d.saturating_duration_since(std::time::Instant::now());
            left.as_millis() as u64
        })
    }

    async fn identity(&self, cx: &roam::Context) -> Option<String> {
        cx.identity().map(|i| i.name().to_owned())
    }
}
