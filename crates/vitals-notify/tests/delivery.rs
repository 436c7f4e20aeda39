//! Delivery scenarios against loopback receivers that fail on command.

mod common;

use std::time::Duration;

use common::{Act, Receiver, fast, refused_port, standardwebhooks_verify, wait_for};
use vitals_notify::{
    ChannelKind, Config, DeliveryOptions, Notification, Outbox, Severity, SqliteOutbox, Transition,
};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const LIMIT: Duration = Duration::from_secs(20);

fn alert(id: &str, transition: Transition) -> Notification {
    let mut n = Notification::new(id, "HeapHigh", Severity::Critical, transition);
    n.summary = format!("heap high on {id}");
    n.instance = "host-1:8080".into();
    n.service = "checkout".into();
    n.values.insert("heap_bytes".into(), 9.0e8);
    n.thresholds.insert("heap_bytes".into(), 8.0e8);
    n
}

/// (alert_id, transition) of each accepted webhook delivery, in arrival order.
fn webhook_sequence(rx: &Receiver) -> Vec<(String, String)> {
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
async fn webhook_survives_500_429_and_timeouts_in_order_with_stable_ids_and_valid_signatures() {
    let rx = Receiver::start().await;
    rx.script([
        Act::Status(500, "boom"),
        Act::TooMany("1"),
        Act::Hang(Duration::from_secs(2)),
        Act::Status(503, "later"),
    ]);
    let notifier = Config::new()
        .webhook(rx.url("/hook/t0ken"), SECRET)
        .options(ChannelKind::Webhook, fast(ChannelKind::Webhook))
        .start()
        .unwrap();
    assert_eq!(
        notifier.notify(&[
            alert("a1", Transition::Fired),
            alert("a2", Transition::Fired)
        ]),
        2
    );
    assert_eq!(notifier.notify(&[alert("a1", Transition::Resolved)]), 1);
    assert_eq!(
        notifier.notify(&[
            alert("a2", Transition::Escalated),
            alert("a2", Transition::Resolved)
        ]),
        2
    );
    wait_for("5 deliveries", LIMIT, || rx.accepted().len() == 5).await;

    let expected = [
        ("a1", "fired"),
        ("a2", "fired"),
        ("a1", "resolved"),
        ("a2", "escalated"),
        ("a2", "resolved"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, t)| ((*a).to_owned(), (*t).to_owned()))
        .collect();
    assert_eq!(webhook_sequence(&rx), expected);

    // The first envelope went through four failures: every attempt carried the same webhook-id.
    let hits = rx.hits();
    assert_eq!(hits.len(), 9, "{hits:#?}");
    let first_id = &hits[0].headers["webhook-id"];
    assert!(
        hits[..5]
            .iter()
            .all(|h| &h.headers["webhook-id"] == first_id)
    );
    assert!(hits[..4].iter().all(|h| !h.accepted()) && hits[4].accepted());
    let ids: std::collections::HashSet<_> = rx
        .accepted()
        .iter()
        .map(|h| h.headers["webhook-id"].clone())
        .collect();
    assert_eq!(ids.len(), 5, "one id per envelope");

    for hit in rx.accepted() {
        standardwebhooks_verify(SECRET, &hit).expect("standardwebhooks accepts our signature");
    }
    let mut forged = rx.accepted()[0].clone();
    forged.body = forged.body.replace("heap high", "heap fine");
    assert!(
        standardwebhooks_verify(SECRET, &forged).is_err(),
        "a tampered body must fail verification"
    );

    let snap = notifier.snapshot();
    let c = &snap.channels[0];
    assert_eq!(c.name, format!("webhook:http://{}", rx.addr));
    assert_eq!(
        (
            c.sent,
            c.failed_attempts,
            c.retried,
            c.dead_lettered,
            c.dropped
        ),
        (5, 4, 4, 0, 0)
    );
    assert_eq!(c.queue_depth, 0);
    assert!(c.last_success.is_some());
    let json = serde_json::to_string(&snap).unwrap();
    assert!(
        !json.contains("t0ken") && !json.contains("MfKQ9r8"),
        "{json}"
    );
    assert!(!format!("{notifier:?}").contains("t0ken"));
}

#[tokio::test]
async fn pagerduty_resumes_after_refused_connections_with_one_dedup_key() {
    let port = refused_port();
    let notifier = Config::new()
        .pagerduty("R0UTINGKEY0123456789")
        .pagerduty_url(format!("http://127.0.0.1:{port}"))
        .options(ChannelKind::PagerDuty, fast(ChannelKind::PagerDuty))
        .start()
        .unwrap();
    notifier.notify(&[alert("pd-1", Transition::Fired)]);
    notifier.notify(&[alert("pd-1", Transition::Resolved)]);
    wait_for("refused attempts", LIMIT, || {
        notifier.snapshot().channels[0].failed_attempts >= 3
    })
    .await;
    let snap = notifier.snapshot();
    let err = snap.channels[0].last_error.clone().unwrap();
    assert!(err.starts_with("connect error"), "{err}");
    assert!(!err.contains("R0UTINGKEY"), "{err}");

    let rx = Receiver::start_on(port).await;
    wait_for("trigger and resolve", LIMIT, || rx.accepted().len() == 2).await;
    let events: Vec<serde_json::Value> = rx.accepted().iter().map(|h| h.json()).collect();
    assert!(rx.accepted().iter().all(|h| h.path == "/v2/enqueue"));
    assert_eq!(events[0]["event_action"], "trigger");
    assert_eq!(events[1]["event_action"], "resolve");
    assert_eq!(events[0]["dedup_key"], "pd-1");
    assert_eq!(events[1]["dedup_key"], "pd-1");
    assert_eq!(events[0]["routing_key"], "R0UTINGKEY0123456789");
    assert_eq!(events[0]["payload"]["severity"], "critical");
    assert_eq!(events[0]["payload"]["source"], "host-1:8080");
    assert_eq!(notifier.snapshot().channels[0].sent, 2);
    assert!(!format!("{:?}", notifier.snapshot()).contains("R0UTINGKEY"));
}

#[tokio::test]
async fn slack_4xx_becomes_a_visible_dead_letter_and_is_not_retried() {
    let rx = Receiver::start().await;
    rx.script([Act::Status(400, "invalid_payload")]);
    let notifier = Config::new()
        .slack(rx.url("/services/T000/B000/t0ken"))
        .options(ChannelKind::Slack, fast(ChannelKind::Slack))
        .start()
        .unwrap();
    notifier.notify(&[alert("s1", Transition::Fired)]);
    notifier.notify(&[alert("s1", Transition::Resolved)]);
    wait_for("the resolve", LIMIT, || rx.accepted().len() == 1).await;
    assert_eq!(rx.hits().len(), 2, "the refused one was not retried");
    let accepted = rx.accepted()[0].json();
    assert!(
        accepted["text"].as_str().unwrap().contains("[RESOLVED]"),
        "{accepted}"
    );
    assert!(accepted["blocks"].is_array());

    let snap = notifier.snapshot();
    let c = &snap.channels[0];
    assert_eq!(c.name, "slack");
    assert_eq!(
        (c.sent, c.dead_lettered, c.retried, c.failed_attempts),
        (1, 1, 0, 1)
    );
    assert_eq!(c.dead_letters.len(), 1);
    assert_eq!(c.dead_letters[0].status, Some(400));
    assert_eq!(c.dead_letters[0].alert_ids, ["s1"]);
    assert_eq!(
        c.dead_letters[0].reason,
        "HTTP 400 Bad Request: invalid_payload"
    );
    assert!(!serde_json::to_string(&snap).unwrap().contains("t0ken"));
}

#[tokio::test]
async fn queue_overflow_is_counted_and_the_bound_holds() {
    let port = refused_port();
    let options = DeliveryOptions {
        capacity: 5,
        ..fast(ChannelKind::Webhook)
    };
    let notifier = Config::new()
        .webhook(format!("http://127.0.0.1:{port}/hook"), SECRET)
        .options(ChannelKind::Webhook, options)
        .start()
        .unwrap();
    let mut queued = 0;
    for i in 0..50 {
        queued += notifier.notify(&[alert(&format!("q{i}"), Transition::Fired)]);
        assert!(notifier.snapshot().channels[0].queue_depth <= 5);
    }
    assert_eq!(queued, 5);
    let c = &notifier.snapshot().channels[0];
    assert_eq!((c.dropped, c.queue_depth, c.capacity), (45, 5, 5));

    // Once the receiver is back the five queued ones arrive, in order.
    let rx = Receiver::start_on(port).await;
    wait_for("the queued five", LIMIT, || rx.accepted().len() == 5).await;
    let ids: Vec<String> = webhook_sequence(&rx)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids, ["q0", "q1", "q2", "q3", "q4"]);
    wait_for("an empty queue", LIMIT, || {
        notifier.snapshot().channels[0].queue_depth == 0
    })
    .await;
    assert_eq!(notifier.notify(&[alert("after", Transition::Fired)]), 1);
}

#[tokio::test]
async fn sqlite_outbox_delivers_pending_notifications_after_a_restart_mid_outage() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("vitals.db");
    let port = refused_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let start = || {
        Config::new()
            .webhook(url.clone(), SECRET)
            .options(ChannelKind::Webhook, fast(ChannelKind::Webhook))
            .outbox(SqliteOutbox::open(&db).unwrap())
            .start()
            .unwrap()
    };
    let notifier = start();
    notifier.notify(&[
        alert("r1", Transition::Fired),
        alert("r2", Transition::Fired),
    ]);
    notifier.notify(&[alert("r1", Transition::Resolved)]);
    let channel = notifier.snapshot().channels[0].name.clone();
    let reader = SqliteOutbox::open(&db).unwrap();
    wait_for("three pending in SQLite", LIMIT, || {
        reader.pending(&channel).unwrap().len() == 3
    })
    .await;
    wait_for("a failed attempt", LIMIT, || {
        notifier.snapshot().channels[0].failed_attempts >= 1
    })
    .await;
    let pending_ids: Vec<String> = reader
        .pending(&channel)
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    notifier.shutdown().await;

    let rx = Receiver::start_on(port).await;
    let notifier = start();
    assert_eq!(notifier.snapshot().channels[0].name, channel);
    wait_for("the pending three", LIMIT, || rx.accepted().len() == 3).await;
    let seq = webhook_sequence(&rx);
    let expected = [("r1", "fired"), ("r2", "fired"), ("r1", "resolved")];
    assert_eq!(
        seq,
        expected
            .iter()
            .map(|(a, t)| ((*a).to_owned(), (*t).to_owned()))
            .collect::<Vec<_>>()
    );
    let ids: Vec<String> = rx
        .accepted()
        .iter()
        .map(|h| h.headers["webhook-id"].clone())
        .collect();
    assert_eq!(ids, pending_ids, "the webhook-id survives the restart");
    for hit in rx.accepted() {
        standardwebhooks_verify(SECRET, &hit).expect("signature valid after restart");
    }
    wait_for("an empty outbox", LIMIT, || {
        reader.pending(&channel).unwrap().is_empty()
    })
    .await;
}

#[tokio::test]
async fn still_firing_alerts_repeat_until_resolved() {
    let rx = Receiver::start().await;
    let options = DeliveryOptions {
        repeat_interval: Duration::from_millis(150),
        ..fast(ChannelKind::Webhook)
    };
    let notifier = Config::new()
        .webhook(rx.url("/hook"), SECRET)
        .options(ChannelKind::Webhook, options)
        .start()
        .unwrap();
    notifier.notify(&[alert("rep", Transition::Fired)]);
    let repeats = |rx: &Receiver| {
        rx.accepted()
            .iter()
            .filter(|h| h.json()["data"]["repeat"] == true)
            .count()
    };
    wait_for("two repeats", LIMIT, || repeats(&rx) >= 2).await;
    notifier.notify(&[alert("rep", Transition::Resolved)]);
    wait_for("the resolve", LIMIT, || {
        rx.accepted()
            .iter()
            .any(|h| h.json()["data"]["transition"] == "resolved")
    })
    .await;
    let after_resolve = rx.accepted().len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        rx.accepted().len(),
        after_resolve,
        "no repeat after the resolve"
    );
    let last = rx.accepted().last().unwrap().json();
    assert_eq!(last["type"], "alert.resolved");
}

#[tokio::test]
async fn test_notification_reaches_every_channel() {
    let rx = Receiver::start().await;
    let notifier = Config::new()
        .alertmanager(rx.url("/am"))
        .pagerduty("KEY")
        .pagerduty_url(rx.url("/pd"))
        .slack(rx.url("/slack/t0ken"))
        .webhook(rx.url("/hook"), SECRET)
        .start()
        .unwrap();
    assert_eq!(notifier.send_test("checkout", "host-1"), 4);
    wait_for("four test messages", LIMIT, || rx.accepted().len() == 4).await;
    let mut paths: Vec<String> = rx.accepted().iter().map(|h| h.path.clone()).collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/am/api/v2/alerts",
            "/hook",
            "/pd/v2/enqueue",
            "/slack/t0ken"
        ]
    );
    assert!(notifier.drain(LIMIT).await);
    assert!(notifier.snapshot().channels.iter().all(|c| c.sent == 1));
}
