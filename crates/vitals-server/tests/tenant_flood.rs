//! A flood of random tenants and random paths against the real server on loopback leaves
//! `/metrics` within its line bound: per-tenant lines for at most `top_tenants` tenants plus
//! `(other)`, whatever the number of tenants, while the JSON endpoints keep every tenant's
//! detail; made-up organization ids in the path (answered 404) mint no tenant at all.

#[allow(dead_code)] // each test binary uses part of the shared support
mod support;

use support::Server;

/// Requests in the flood (a third each: a vouched tenant through the trusted gateway header, a
/// made-up organization in the path, an unknown path).
const FLOOD: u64 = 3_000;
/// Issue 16's bound on what a flood adds to `/metrics`.
const MAX_NEW_LINES: usize = 400;

fn lines_of(body: &str, family: &str) -> Vec<String> {
    body.lines()
        .filter(|l| l.starts_with(family))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_random_tenants_stays_within_the_line_bound() {
    let server = Server::start_with(&[
        ("VITALS_DEMO", "1"),
        // A gateway in front sets the header: every tenant it names is vouched for.
        ("VITALS_TRUST_ORGANIZATION_HEADER", "1"),
        ("VITALS_RATE_LIMIT_MAX", "1000000"),
    ]);
    // Warm: the routes the flood uses exist before the first count.
    assert_eq!(server.get("/api/orgs/acme/properties").await.status, 200);
    assert_eq!(server.get("/api/slow?ms=0").await.status, 200);
    assert_eq!(server.get("/api/orgs/nope/properties").await.status, 404);
    assert_eq!(server.get("/x/0").await.status, 404);
    let before = server.get("/metrics").await;
    assert_eq!(before.status, 200, "{}", before.text);
    let lines_before = before.text.lines().count();

    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut random = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for i in 0..FLOOD {
        let r = random();
        let answer = match i % 3 {
            0 => {
                let tenant = format!("tenant-{r:x}");
                server
                    .get_with("/api/slow?ms=0", &[("x-organization-id", &tenant)])
                    .await
            }
            1 => {
                server
                    .get(&format!("/api/orgs/made-up-{r:x}/properties"))
                    .await
            }
            _ => server.get(&format!("/x/{i}/{r:x}")).await,
        };
        let expected = if i % 3 == 0 { 200 } else { 404 };
        assert_eq!(answer.status, expected, "request {i}: {}", answer.text);
    }

    let after = server.get("/metrics").await;
    assert_eq!(after.status, 200, "{}", after.text);
    let lines_after = after.text.lines().count();
    assert!(
        lines_after <= lines_before + MAX_NEW_LINES,
        "/metrics grew from {lines_before} to {lines_after} lines"
    );
    // At most top_tenants (100) tenants by id, plus (other); no made-up id anywhere.
    let requests = lines_of(&after.text, "vitals_organization_requests_total{");
    assert!(requests.len() <= 101, "{} tenant lines", requests.len());
    assert!(
        requests
            .iter()
            .any(|l| l.starts_with(r#"vitals_organization_requests_total{organization="(other)"}"#)),
        "{requests:#?}"
    );
    assert!(
        !after.text.contains("made-up-"),
        "a made-up id became a label"
    );
    assert!(!after.text.contains("/x/"), "a raw path became a label");

    // The JSON endpoints keep every vouched-for tenant's detail; made-up ids have none.
    let stats = server.stats().await;
    let tracked = stats["organizations"]["tracked"].as_u64().unwrap();
    assert!(tracked >= FLOOD / 3, "{:#}", stats["organizations"]);
    let made_up = server
        .get("/health/performance/v2/by-organization?organizationId=made-up-1")
        .await;
    assert_eq!(made_up.status, 404, "{}", made_up.text);
    eprintln!(
        "tenant flood: {FLOOD} requests, /metrics {lines_before} -> {lines_after} lines, \
         {tracked} tenants tracked, {} tenant lines",
        requests.len()
    );
}
