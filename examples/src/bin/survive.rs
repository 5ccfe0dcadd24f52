//! Sessions that survive: a client calls and streams through a relay that cuts the link at
//! seeded random points, and the demo prints each cut and each resume, then shows that every
//! call answered once with its own result and every streamed number arrived once, in order.
//!
//! ```sh
//! cargo run -p roam-examples --bin survive
//! ```

// The fault-injection relay of the integration tests (included by path: it is a test tool,
// not part of the library).
#[path = "../../../tests/src/relay.rs"]
#[allow(dead_code)]
mod relay;

use std::time::Duration;

use roam::{ConnectionState, Connector, RetryPolicy, Router, Server};
use roam_examples::numbers::{Counter, NumbersClient, NumbersDispatcher};
use roam_examples::{Calc, CalculatorClient, CalculatorDispatcher};

const CALLS: i32 = 2_000;
const NUMBERS: u64 = 50_000;
const CUTS: usize = 10;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::bind("tcp://127.0.0.1:0").await?.serve(
        Router::new()
            .with(CalculatorDispatcher::new(Calc))
            .with(NumbersDispatcher::new(Counter)),
    );
    let relay = relay::Relay::in_front_of(server.local_url()).await?;
    let url = relay.url_for(server.local_url());
    println!("server on {}, relay on {url}", server.local_url());
    let conn = Connector::new()
        .retry(RetryPolicy {
            initial_delay: Duration::from_millis(5),
            ..RetryPolicy::default()
        })
        .connect(&url)
        .await?;
    let plan = relay.cut_at_random(2026, CUTS, 30_000);
    println!(
        "the relay will cut the link {CUTS} times, after {:?} bytes",
        plan.offsets()
    );

    let mut states = conn.watch_state();
    let narrator = tokio::spawn(async move {
        while let Some(state) = states.changed().await {
            match state {
                ConnectionState::Reconnecting => {
                    println!("  link lost ({} so far): reconnecting", states.links_lost())
                }
                ConnectionState::Resumed => println!("  resumed: nothing in flight was lost"),
                other => println!("  connection {other:?}"),
            }
        }
    });

    let calc = CalculatorClient::new(conn.clone());
    let numbers = NumbersClient::new(conn.clone());
    let calls = async {
        let mut right = 0;
        for i in 0..CALLS {
            if calc.add(i, 1).await? == i + 1 {
                right += 1;
            }
        }
        Ok::<_, roam::CallError<std::convert::Infallible>>(right)
    };
    let stream = async {
        let (tx, mut rx) = roam::channel::<u64>();
        let counting = numbers.count(NUMBERS, tx);
        let reading = async {
            let (mut next, mut in_order) = (0u64, true);
            while let Ok(Some(n)) = rx.recv().await {
                in_order &= n == next;
                next += 1;
            }
            (next, in_order)
        };
        let (counted, read) = tokio::join!(counting, reading);
        counted.map(|()| read)
    };
    let (right, read) = tokio::join!(calls, stream);
    let right = right?;
    let (received, in_order) = read?;
    println!(
        "{right}/{CALLS} calls answered with their own result; {received}/{NUMBERS} numbers received{}",
        if in_order {
            ", each once and in order"
        } else {
            ", OUT OF ORDER"
        }
    );
    println!(
        "the relay cut the link {} times; the client lost it {} times and resumed the same session after each (state now {:?})",
        relay.cuts_made(),
        conn.watch_state().links_lost(),
        conn.state()
    );
    let lost_nothing = right == CALLS && received == NUMBERS && in_order;
    drop((calc, numbers, conn));
    narrator.abort();
    server.shutdown().await;
    if !lost_nothing {
        return Err("something was lost or repeated".into());
    }
    println!("nothing was lost or repeated");
    Ok(())
}
