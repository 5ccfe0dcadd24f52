//! Version 2 of the `Inventory` service in the evolution suite (see `../evolution.rs`).
//! `roam-cli/tests/evolution.rs` runs `roam check` on these same files.

use facet::Facet;

#[derive(Facet, Debug, Clone, PartialEq)]
pub struct Item {
    pub qty: u32,
    pub name: String,
    #[facet(default)]
    pub tags: Vec<String>,
}

#[derive(Facet, Debug, Clone, PartialEq)]
#[repr(u8)]
pub enum Status {
    Active,
    Archived { at: u64 },
    Retired { reason: String },
}

#[derive(Facet, Debug, Clone, PartialEq)]
pub struct Position {
    pub x: i32,
    pub y: i32,
}

#[derive(Facet, Debug, Clone, PartialEq)]
pub struct Label {
    pub text: String,
    pub color: String,
}

#[roam::service]
pub trait Inventory {
    async fn add(&self, item: Item) -> u32;
    async fn get(&self, id: u32) -> Item;
    async fn status(&self, id: u32) -> Status;
    async fn locate(&self, at: Position) -> Position;
    async fn weigh(&self, grams: String) -> u32;
    async fn label(&self, label: Label) -> u32;
    async fn upload(&self, items: roam::Rx<Item>) -> u32;
    async fn countdown(&self, from: u64, out: roam::Tx<u64>);
    async fn download(&self, n: u32, out: roam::Tx<Item>);
    async fn watch(&self, out: roam::Tx<Status>);
    async fn trail(&self, n: i32, out: roam::Tx<Position>);
    async fn labels(&self, out: roam::Tx<Label>);
}

pub struct Server;

impl Inventory for Server {
    async fn add(&self, item: Item) -> u32 {
        item.qty + item.name.len() as u32 + 1000 * item.tags.len() as u32
    }
    async fn get(&self, id: u32) -> Item {
        Item {
            qty: id * 10,
            name: format!("item-{id}"),
            tags: vec!["new".to_owned()],
        }
    }
    async fn status(&self, id: u32) -> Status {
        match id {
            0 => Status::Active,
            1 => Status::Archived { at: 99 },
            _ => Status::Retired {
                reason: format!("#{id}"),
            },
        }
    }
    async fn locate(&self, at: Position) -> Position {
        Position {
            x: at.x + 1,
            y: at.y + 1,
        }
    }
    async fn weigh(&self, grams: String) -> u32 {
        grams.len() as u32
    }
    async fn label(&self, label: Label) -> u32 {
        (label.text.len() + label.color.len()) as u32
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
                qty: i,
                name: format!("item-{i}"),
                tags: vec!["new".to_owned()],
            };
            if out.send(item).await.is_err() {
                return;
            }
        }
    }

    async fn watch(&self, out: roam::Tx<Status>) {
        for status in [
            Status::Active,
            Status::Archived { at: 7 },
            Status::Retired {
                reason: "done".to_owned(),
            },
        ] {
            if out.send(status).await.is_err() {
                return;
            }
        }
    }

    async fn trail(&self, n: i32, out: roam::Tx<Position>) {
        for i in 0..n {
            if out.send(Position { x: i, y: -i }).await.is_err() {
                return;
            }
        }
    }

    async fn labels(&self, out: roam::Tx<Label>) {
        let _ = out
            .send(Label {
                text: "tag".to_owned(),
                color: "red".to_owned(),
            })
            .await;
    }
}
