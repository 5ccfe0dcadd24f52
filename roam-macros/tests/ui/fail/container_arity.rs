use std::collections::HashMap;
use std::hash::RandomState;

#[roam::service]
pub trait Index {
    async fn load(&self, entries: HashMap<String, u64, RandomState>);
}

fn main() {}
