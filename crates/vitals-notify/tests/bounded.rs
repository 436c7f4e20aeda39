//! Bounds of delivery: attempts and age per envelope, `Retry-After: 0`, a full queue that makes
//! room for a resolve, and firing alerts that survive a restart of the notifier.

mod common;

use std::time::Duration;

use common::{Act, Receiver, fast, refused_port, wait_for};
use vitals_notify::{
    ChannelKind, Config, DeliveryOptions, MemoryOutbox, Notification, Outbox, Severity,
    SqliteOutbox, Transition,
};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const LIMIT: Duration = Duration::from_secs(20);

fn alert(id: &str, transition: Transition) -> Notification {
    let mut n = Notification::new(id, "HeapHigh", Severity::Critical, transition);
    n.summary = format!("heap high on {id}");
    n
}

fn ids(rx: &Receiver) -> Vec<(String, String)> {
    rx.accepted()
        .iter()
        .map(|h| {
            let v = h.json();
            (
                v["data"]["alert_id"].as_str().unwrap().to_owned(),
                v["data"]["transition"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn retry_after_zero_gets_exactly_max_attempts_then_a_dead_letter_and_the_backlog_goes_on() {
    let rx = Receiver::start().await;
    // Every answer to the first envelope: 429 with `Retry-After: 0`.
    rx.script(std::iter::repeat_n(Act::TooMany("0"), 4));
    let options = DeliveryOptions {
        max_attempts: 4,
        ..fast(ChannelKind::Webhook)
    };
    let notifier = Config::new()
        .webhook(rx.url("/hook"), SECRET)
        .options(ChannelKind::Webhook, options)
        .start()
        .unwrap();
    notifier.notify(&[alert("stuck", Transition::Fired)]);
    notifier.notify(&[alert("next", Transition::Fired)]);
    wait_for("the envelope behind it", LIMIT, || rx.accepted().len() == 1).await;
    let hits = rx.hits();
    let stuck: Vec<_> = hits
        .iter()
        .filter(|h| h.json()["data"]["alert_id"] == "stuck")
        .collect();
    assert_eq!(stuck.len(), 4, "exactly max_attempts requests");
    assert!(stuck.iter().all(|h| !h.accepted()));
    assert_eq!(ids(&rx), [("next".to_owned(), "fired".to_owned())]);
    let c = &notifier.snapshot().channels[0];
    assert_eq!((c.gave_up, c.dead_lettered, c.sent), (1, 1, 1), "{c:?}");
    assert_eq!(c.failed_attempts, 4);
    let letter = &c.dead_letters[0];
    assert_eq!(letter.alert_ids, ["stuck"]);
    assert_eq!(letter.status, Some(429));
    assert!(
        letter.reason.starts_with("gave up after 4 attempts"),
        "{letter:?}"
    );
    // Nothing more is sent for it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.hits().len(), 5);
}

#[tokio::test]
async fn an_envelope_past_max_age_is_dead_lettered_without_a_request() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("o.db");
    let rx = Receiver::start().await;
    let url = rx.url("/hook");
    // An envelope a previous process left two days ago.
    let channel = "webhook:http://127.0.0.1";
    {
        let outbox = SqliteOutbox::open(&db).unwrap();
        let mut old = vitals_notify::Envelope::new(
            vitals_notify::EnvelopeKind::Transition,
            vec![alert("old", Transition::Fired)],
        );
        old.created = std::time::SystemTime::now() - Duration::from_secs(2 * 86_400);
        let port = rx.addr.port();
        outbox.enqueue(&format!("{channel}:{port}"), &old).unwrap();
    }
    let notifier = Config::new()
        .webhook(url, SECRET)
        .options(ChannelKind::Webhook, fast(ChannelKind::Webhook))
        .outbox(SqliteOutbox::open(&db).unwrap())
        .start()
        .unwrap();
    notifier.notify(&[alert("new", Transition::Fired)]);
    wait_for("the new one", LIMIT, || rx.accepted().len() == 1).await;
    assert_eq!(ids(&rx), [("new".to_owned(), "fired".to_owned())]);
    assert_eq!(rx.hits().len(), 1, "the old envelope was never sent");
    let c = &notifier.snapshot().channels[0];
    assert_eq!(c.gave_up, 1);
    assert!(
        c.dead_letters[0]
            .reason
            .starts_with("gave up: older than 1day"),
        "{:?}",
        c.dead_letters
    );
}

#[tokio::test]
async fn a_full_queue_drops_the_oldest_firing_envelope_never_a_resolve() {
    let port = refused_port();
    let options = DeliveryOptions {
        capacity: 3,
        ..fast(ChannelKind::Webhook)
    };
    let notifier = Config::new()
        .webhook(format!("http://127.0.0.1:{port}/hook"), SECRET)
        .options(ChannelKind::Webhook, options)
        .start()
        .unwrap();
    for i in 0..3 {
        assert_eq!(
            notifier.notify(&[alert(&format!("f{i}"), Transition::Fired)]),
            1
        );
    }
    // Full: another firing one is refused...
    assert_eq!(notifier.notify(&[alert("f3", Transition::Fired)]), 0);
    // ...a resolve is taken, and the oldest firing envelope behind the head makes room.
    assert_eq!(notifier.notify(&[alert("f0", Transition::Resolved)]), 1);
    assert_eq!(notifier.notify(&[alert("f2", Transition::Resolved)]), 1);
    wait_for("the bound restored", LIMIT, || {
        notifier.snapshot().channels[0].queue_depth == 3
    })
    .await;
    let c = &notifier.snapshot().channels[0];
    assert_eq!(
        c.dropped, 3,
        "f3 refused, f1 and f2 dropped for the resolves"
    );
    let rx = Receiver::start_on(port).await;
    wait_for("the queue sent", LIMIT, || rx.accepted().len() == 3).await;
    let got = ids(&rx);
    let want = [("f0", "fired"), ("f0", "resolved"), ("f2", "resolved")];
    assert_eq!(
        got,
        want.iter()
            .map(|(a, t)| ((*a).to_owned(), (*t).to_owned()))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn firing_alerts_survive_a_restart_and_reconcile_resolves_the_stale_one() {
    let outbox = std::sync::Arc::new(MemoryOutbox::default());
    let rx = Receiver::start().await;
    let start = || {
        Config::new()
            .webhook(rx.url("/hook"), SECRET)
            .options(ChannelKind::Webhook, fast(ChannelKind::Webhook))
            .outbox(outbox.clone())
            .start()
            .unwrap()
    };
    let notifier = start();
    notifier.notify(&[alert("a", Transition::Fired)]);
    notifier.notify(&[alert("b", Transition::Fired)]);
    wait_for("two fires", LIMIT, || rx.accepted().len() == 2).await;
    notifier.shutdown().await;

    let notifier = start();
    let mut firing: Vec<&str> = notifier
        .firing()
        .iter()
        .map(|n| n.alert_id.as_str())
        .collect();
    firing.sort_unstable();
    assert_eq!(firing, ["a", "b"]);
    // The application restored `a` and `c`: `b` is resolved, `a` is not sent again, and `c`
    // (unknown to an outbox that does not outlive a process) is only tracked.
    notifier.reconcile(&[alert("a", Transition::Fired), alert("c", Transition::Fired)]);
    wait_for("the resolve of b", LIMIT, || rx.accepted().len() == 3).await;
    assert_eq!(ids(&rx)[2], ("b".to_owned(), "resolved".to_owned()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(rx.accepted().len(), 3, "nothing else sent");
    notifier.shutdown().await;
    let notifier = start();
    let mut firing: Vec<&str> = notifier
        .firing()
        .iter()
        .map(|n| n.alert_id.as_str())
        .collect();
    firing.sort_unstable();
    assert_eq!(firing, ["a", "c"]);
}

#[tokio::test]
async fn with_a_durable_outbox_a_restored_alert_it_never_took_in_is_sent_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("o.db");
    let rx = Receiver::start().await;
    let start = || {
        Config::new()
            .webhook(rx.url("/hook"), SECRET)
            .options(ChannelKind::Webhook, fast(ChannelKind::Webhook))
            .outbox(SqliteOutbox::open(&db).unwrap())
            .start()
            .unwrap()
    };
    let notifier = start();
    notifier.notify(&[alert("known", Transition::Fired)]);
    wait_for("the fire", LIMIT, || rx.accepted().len() == 1).await;
    notifier.shutdown().await;
    // The application holds `known` and `lost` (its fire died with the process before the
    // outbox had it): `lost` is sent, `known` is not sent again.
    let notifier = start();
    let active = [
        alert("known", Transition::Fired),
        alert("lost", Transition::Fired),
    ];
    notifier.reconcile(&active);
    wait_for("the lost fire", LIMIT, || rx.accepted().len() == 2).await;
    assert_eq!(ids(&rx)[1], ("lost".to_owned(), "fired".to_owned()));
    notifier.shutdown().await;
    // Now the outbox knows both: a third start sends nothing.
    let notifier = start();
    notifier.reconcile(&active);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.hits().len(), 2);
    drop(notifier);
}
