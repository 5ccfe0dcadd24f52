//! Version 1 of the `Inventory` service in the evolution suite (see `../evolution.rs`).
//! `roam-cli/tests/evolution.rs` runs `roam check` on these same files.

use facet::Facet;

#[derive(Facet, Debug, Clone, PartialEq)]
pub struct Item {
    pub name: String,
    pub qty: u32,
    /// v2 removes it; readers default it, so the removal is compatible both ways.
    #[facet(default)]
    pub legacy: String,
}

#[derive(Facet, Debug, Clone, PartialEq)]
#[repr(u8)]
pub enum Status {
    Active,
    Retired { reason: String },
}

#[derive(Facet, Debug, Clone, PartialEq)]
pub struct Point {
    pub x: i32,
    pub y: i32,
}

#[derive(Facet, Debug, Clone, PartialEq)]
pub struct Label {
    pub text: String,
}

#[roam::service]
pub trait Inventory {
    /// Arguments evolve: v2's `Item` adds a defaulted field, drops `legacy`, reorders.
    async fn add(&self, item: Item) -> u32;
    /// The response evolves the same way.
    async fn get(&self, id: u32) -> Item;
    /// v2 adds a variant.
    async fn status(&self, id: u32) -> Status;
    /// v2 renames the type.
    async fn locate(&self, at: Point) -> Point;
    /// v2 changes the argument's type: incompatible.
    async fn weigh(&self, grams: u32) -> u32;
    /// v2's `Label` adds a field without a default: incompatible from v1 to v2.
    async fn label(&self, label: Label) -> u32;
    /// Channel items evolve like arguments: v2's `Item` differs compatibly.
    async fn upload(&self, items: roam::Rx<Item>) -> u32;
    /// Items the handler writes keep one type in both versions.
    async fn countdown(&self, from: u64, out: roam::Tx<u64>);
    /// Items the handler writes evolve like responses: v2's `Item` differs compatibly.
    async fn download(&self, n: u32, out: roam::Tx<Item>);
    /// v2's handler writes a variant v1 does not know.
    async fn watch(&self, out: roam::Tx<Status>);
    /// v2 renames the type of the items the handler writes.
    async fn trail(&self, n: i32, out: roam::Tx<Point>);
    /// v2's `Label` items add a field without a default: a v1 handler cannot write what a
    /// v2 caller must read.
    async fn labels(&self, out: roam::Tx<Label>);
}

pub struct Server;

impl Inventory for Server {
    async fn add(&self, item: Item) -> u32 {
        item.qty + item.name.len() as u32
    }
    async fn get(&self, id: u32) -> Item {
        Item {
            name: format!("item-{id}"),
            qty: id * 10,
            legacy: "old".to_owned(),
        }
    }
    async fn status(&self, id: u32) -> Status {
        match id {
            0 => Status::Active,
            _ => Status::Retired {
                reason: format!("#{id}"),
            },
        }
    }
    async fn locate(&self, at: Point) -> Point {
        Point {
            x: at.x + 1,
            y: at.y + 1,
        }
    }
    async fn weigh(&self, grams: u32) -> u32 {
        grams * 2
    }
    async fn label(&self, label: Label) -> u32 {
        label.text.len() as u32
    }

    async fn upload(&self, mut items: roam::Rx<Item>) -> u32 {
        let mut total = 0;
        while let Ok(Some(item)) = items.recv().await {
            total += item.qty;
        }
        total
    }

    async fn countdown(&self, from: u64, out: roam::Tx<u64>) {
        for i in (0..from).rev() {
            if out.send(i).await.is_err() {
                return;
            }
        }
    }

    async fn download(&self, n: u32, out: roam::Tx<Item>) {
        for i in 0..n {
            let item = Item {
                name: format!("item-{i}"),
                qty: i,
                legacy: "old".to_owned(),
            };
            if out.send(item).await.is_err() {
                return;
            }
        }
    }

    async fn watch(&self, out: roam::Tx<Status>) {
        for status in [
            Status::Active,
            Status::Retired {
                reason: "done".to_owned(),
            },
        ] {
            if out.send(status).await.is_err() {
                return;
            }
        }
    }

    async fn trail(&self, n: i32, out: roam::Tx<Point>) {
        for i in 0..n {
            if out.send(Point { x: i, y: -i }).await.is_err() {
                return;
            }
        }
    }

    async fn labels(&self, out: roam::Tx<Label>) {
        let _ = out
            .send(Label {
                text: "tag".to_owned(),
            })
            .await;
    }
}
