//! The runtime without the macro: a hand-written `Dispatch` served over an in-memory pair.
//! Checks the driver's call path (request → handler task → response), deadlines and
//! cancellation independently of generated code.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use roam::{
    ArgDescriptor, BoxFuture, CallError, Connector, Context, Dispatch, MethodDescriptor,
    ServiceDescriptor,
};

static ECHO: ServiceDescriptor = ServiceDescriptor {
    name: "Echo",
    doc: "",
    methods: &[
        MethodDescriptor {
            name: "echo",
            doc: "",
            id: 1,
            args: &[ArgDescriptor {
                name: "s",
                ty: "String",
            }],
            returns: "String",
            error: None,
            idempotent: false,
        },
        MethodDescriptor {
            name: "hang",
            doc: "",
            id: 2,
            args: &[],
            returns: "()",
            error: None,
            idempotent: false,
        },
    ],
};

/// Echoes strings; `hang` never returns and counts how many are running.
#[derive(Clone, Default)]
struct Echo {
    hanging: Arc<AtomicUsize>,
}

/// Decrements the counter when the handler future is dropped (aborted or finished).
struct Running(Arc<AtomicUsize>);
impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Dispatch for Echo {
    fn descriptor(&self) -> &'static ServiceDescriptor {
        &ECHO
    }

    fn dispatch(&self, cx: Context, payload: roam::Bytes) -> BoxFuture<'static, Vec<u8>> {
        let hanging = self.hanging.clone();
        Box::pin(async move {
            match cx.method_id() {
                1 => match roam::__private::decode_args::<(String,)>(&cx, &payload) {
                    Ok((s,)) => roam::__private::ok_response(&cx, &s),
                    Err(resp) => resp,
                },
                _ => {
                    hanging.fetch_add(1, Ordering::SeqCst);
                    let _guard = Running(hanging);
                    std::future::pending::<()>().await;
                    roam::__private::ok_response(&cx, &())
                }
            }
        })
    }
}

async fn pair(echo: Echo) -> roam::Connection {
    let (client, _server) = roam::memory_pair_with(Connector::new(), Connector::new().serve(echo))
        .await
        .unwrap();
    client
}

#[tokio::test]
async fn echo_round_trips() {
    let conn = pair(Echo::default()).await;
    let got: Result<String, CallError<std::convert::Infallible>> =
        conn.call(&ECHO.methods[0], &("hi",)).await;
    assert_eq!(got.unwrap(), "hi");
}

#[tokio::test(start_paused = true)]
async fn a_deadline_stops_a_handler_that_never_returns() {
    let echo = Echo::default();
    let conn = pair(echo.clone()).await;
    let got: Result<(), CallError<std::convert::Infallible>> = conn
        .call(&ECHO.methods[1], &())
        .with_timeout(Duration::from_millis(100))
        .await;
    assert!(matches!(got, Err(CallError::DeadlineExceeded)), "{got:?}");
    // The server's own deadline timer stops the handler too.
    for _ in 0..100 {
        if echo.hanging.load(Ordering::SeqCst) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(echo.hanging.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn dropping_a_call_cancels_the_handler() {
    let echo = Echo::default();
    let conn = pair(echo.clone()).await;
    let call = tokio::spawn(
        conn.call::<_, (), std::convert::Infallible>(&ECHO.methods[1], &())
            .into_future(),
    );
    while echo.hanging.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    call.abort();
    for _ in 0..1000 {
        if echo.hanging.load(Ordering::SeqCst) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(
        echo.hanging.load(Ordering::SeqCst),
        0,
        "the handler was stopped"
    );
    // The session is still usable.
    let got: Result<String, CallError<std::convert::Infallible>> =
        conn.call(&ECHO.methods[0], &("still",)).await;
    assert_eq!(got.unwrap(), "still");
}
