//! A streaming service beside the calculator: the calculator server serves both, so clients in
//! other languages can exercise channels in each direction against the Rust runtime.

/// Streams of numbers, one each way.
#[roam::service]
pub trait Numbers {
    /// Adds up every number the caller sends, until it closes the stream.
    async fn sum(&self, numbers: roam::Rx<u64>) -> u64;
    /// Sends `0, 1, …, n - 1` to the caller.
    async fn count(&self, n: u64, out: roam::Tx<u64>);
}

/// The [`Numbers`] implementation.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counter;

impl Numbers for Counter {
    async fn sum(&self, mut numbers: roam::Rx<u64>) -> u64 {
        let mut total = 0u64;
        while let Ok(Some(n)) = numbers.recv().await {
            total = total.wrapping_add(n);
        }
        total
    }

    async fn count(&self, n: u64, out: roam::Tx<u64>) {
        for i in 0..n {
            if out.send(i).await.is_err() {
                // The caller gave up on the stream.
                return;
            }
        }
    }
}
