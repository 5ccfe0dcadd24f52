//! The Rust client of the cross-language tests: connects to the URL given (a server written
//! in another language that serves `Calculator`, `Numbers`, `Atlas` and `Probe` with the
//! semantics of the Rust implementations in `roam_examples` and `roam_tests::kitchen`), calls
//! every method, checks every answer, prints one line per check and exits 0 only if all pass.

use std::collections::HashMap;
use std::time::Duration;

use roam::CallError;
use roam_examples::numbers::NumbersClient;
use roam_examples::{CalculatorClient, MathError, Point as CalcPoint};
use roam_tests::kitchen::*;

/// Items streamed each way.
const STREAMED: u64 = 1_000_000;

macro_rules! check {
    ($what:expr, $cond:expr) => {{
        if $cond {
            println!("ok {}", $what);
        } else {
            println!("FAILED {}", $what);
            std::process::exit(1);
        }
    }};
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args().nth(1).ok_or("usage: interop-client URL")?;
    let conn = roam::connect(&url).await?;
    let calc = CalculatorClient::new(conn.clone());
    check!("add", calc.add(2, 3).await? == 5);
    check!(
        "divide user error",
        matches!(
            calc.divide(1, 0).await,
            Err(CallError::User(MathError::DivisionByZero))
        )
    );
    check!("divide", calc.divide(7, 2).await? == 3);
    check!(
        "translate",
        calc.translate(CalcPoint { x: 1, y: 2 }, 3, 4).await? == CalcPoint { x: 4, y: 6 }
    );
    check!("greet", calc.greet("Rust").await? == "Hello, Rust!");

    let numbers = NumbersClient::new(conn.clone());
    let (tx, rx) = roam::channel::<u64>();
    let sum = tokio::spawn({
        let numbers = numbers.clone();
        async move { numbers.sum(rx).await }
    });
    for i in 0..STREAMED {
        tx.send(i).await?;
    }
    tx.close();
    check!(
        "sum of a million",
        sum.await?? == STREAMED * (STREAMED - 1) / 2
    );
    let (tx, mut rx) = roam::channel::<u64>();
    let count = tokio::spawn({
        let numbers = numbers.clone();
        async move { numbers.count(STREAMED, tx).await }
    });
    let (mut n, mut in_order) = (0u64, true);
    while let Some(v) = rx.recv().await? {
        in_order &= v == n;
        n += 1;
    }
    count.await??;
    check!("count of a million, in order", n == STREAMED && in_order);

    let atlas = AtlasClient::new(conn.clone());
    let near = Point { x: 5, y: -6 };
    check!(
        "locate",
        matches!(
            atlas.locate("near", Point { x: 5, y: -6 }).await?,
            Some(Point { x: 5, y: -6 })
        ) && atlas.locate("nowhere", near).await?.is_none()
    );
    check!(
        "draw user error",
        matches!(
            atlas.draw(Vec::new(), 1.0).await,
            Err(CallError::User(Outer::C))
        )
    );
    let page = atlas
        .draw(vec![Shape::Circle(1.5), Shape::Rect { w: 2, h: 3 }], 2.5)
        .await?;
    check!(
        "draw",
        page.total == 2
            && page.next.as_deref() == Some("2.5")
            && matches!(page.items[..], [Shape::Circle(r), Shape::Rect { w: 2, h: 3 }] if r == 1.5)
    );
    let meta = HashMap::from([("a".to_owned(), Pair(7, "x".into()))]);
    check!(
        "upload",
        atlas.upload(&[9, 8], meta).await? == (9, [9, 8, 0, 0])
    );
    atlas.ping().await?;
    check!("ping", true);
    let settings = |retries| Settings {
        name: "s".into(),
        retries,
        depth: 8,
        tags: vec![],
    };
    let grown = atlas
        .grow(
            Tree {
                value: 1,
                children: vec![],
            },
            settings(0),
        )
        .await?;
    check!(
        "grow",
        grown.value == 1 && grown.children.len() == 1 && grown.children[0].value == 8
    );
    check!(
        "grow user error",
        matches!(atlas.grow(Tree { value: 1, children: vec![] }, settings(9)).await, Err(CallError::User(name)) if name == "s")
    );
    // Renamed names on both sides' schemas (so the peer reads our bytes directly); skipped
    // fields never leave this process, and the peer's answer comes back with their defaults.
    let profile = |status| Profile {
        name: "ada".into(),
        cache: vec!["not sent".into()],
        status,
        retries: 9,
        level: 1,
        r#type: String::new(),
    };
    let cased = || Cased {
        full_name: "F".into(),
        HTTPServer: 2,
        a1b2_c: true,
        overridden: -3,
    };
    let timed_out = Status::TimedOut {
        retry_after: 5,
        note: "not sent".into(),
    };
    let registered = atlas.register(profile(timed_out), cased()).await?;
    check!(
        "register",
        registered.name == "ada"
            && registered.level == 4
            && registered.r#type == "F/2/true/-3"
            && registered.cache.is_empty()
            && registered.retries == 3
            && matches!(&registered.status, Status::TimedOut { retry_after: 5, note } if note.is_empty())
    );
    check!(
        "register user error",
        matches!(
            atlas.register(profile(Status::Banned("spam".into(), 1)), cased()).await,
            Err(CallError::User(Status::Banned(why, 7))) if why == "spam"
        )
    );
    let (up_tx, mut up_rx) = roam::channel::<Expr>();
    let (cmd_tx, cmd_rx) = roam::channel::<Inner>();
    let region = Pairing {
        left: Point { x: 100, y: 0 },
        right: Point { x: 0, y: 0 },
        both: (Point { x: 0, y: 0 }, Point { x: 0, y: 0 }),
        lookup: HashMap::new(),
    };
    let watch = tokio::spawn({
        let atlas = atlas.clone();
        async move { atlas.watch(region, up_tx, cmd_rx).await }
    });
    let mut echoed = Vec::new();
    for cmd in [Inner::X, Inner::Y(7), Inner::Z { deep: None }] {
        cmd_tx.send(cmd).await?;
        echoed.push(up_rx.recv().await?);
    }
    cmd_tx.close();
    check!(
        "watch, both directions",
        matches!(
            echoed[..],
            [Some(Expr::Lit(0)), Some(Expr::Lit(7)), Some(Expr::Neg(_))]
        ) && watch.await?? == 103
    );

    let probe = ProbeClient::new(conn.clone());
    let before = probe.stopped().await?;
    let hang = tokio::spawn({
        let probe = probe.clone();
        async move { probe.hang(1).await }
    });
    // Wait until the handler runs, then drop the call: a Cancel goes out.
    let mut running = false;
    for _ in 0..500 {
        if probe.hanging().await? > 0 {
            running = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    check!("the hanging handler runs", running);
    hang.abort();
    let mut stopped = false;
    for _ in 0..500 {
        if probe.stopped().await? > before {
            stopped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    check!("a dropped call stops the handler", stopped);
    let timed = probe.hang(2).with_timeout(Duration::from_millis(100)).await;
    check!(
        "deadline",
        matches!(timed, Err(CallError::DeadlineExceeded))
    );
    let left = probe
        .deadline_ms()
        .with_timeout(Duration::from_secs(30))
        .await?;
    check!(
        "the deadline went on the wire",
        left.is_some_and(|ms| ms > 20_000 && ms <= 30_000)
    );
    println!("all checks passed");
    Ok(())
}
