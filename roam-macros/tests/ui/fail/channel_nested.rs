use roam::Tx;

#[roam::service]
pub trait Counter {
    async fn fan_out(&self, outs: Vec<Tx<u32>>);
}

fn main() {}
