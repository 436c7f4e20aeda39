//! Without a trace exporter the request span is not made (DEBUG, under the server's INFO
//! filter), yet a line the server logs during a request carries the request's id, trace id,
//! route and tenant (`vitals_axum::RequestFields`), and the trace id is the one recorded.

#[allow(dead_code)]
mod support;

use support::Server;

#[tokio::test(flavor = "multi_thread")]
async fn a_line_logged_during_a_request_carries_its_ids_without_an_exporter() {
    let server = Server::start_with(&[("VITALS_DEMO", "1")]);
    let on = server
        .send(
            server
                .client()
                .post(server.url("/api/demo/db-fault?on=true")),
        )
        .await;
    assert!(on.status < 300, "{}", on.text);
    let answer = server
        .get_with(
            "/api/orgs/acme/properties",
            &[("x-request-id", "req-log-ids")],
        )
        .await;
    assert_eq!(answer.status, 500, "{}", answer.text);

    let output = server.output();
    let line = output
        .lines()
        .find(|l| l.contains("database error") && l.contains("req-log-ids"))
        .unwrap_or_else(|| panic!("no database error line:\n{output}"));
    assert!(line.contains("request_id=\"req-log-ids\""), "{line}");
    assert!(
        line.contains("route=\"/api/orgs/{orgId}/properties\""),
        "{line}"
    );
    assert!(line.contains("organization=\"acme\""), "{line}");
    assert!(
        !line.contains("request{"),
        "no span without an exporter: {line}"
    );
    let at = line.find("trace_id=\"").expect("a trace id") + "trace_id=\"".len();
    let trace = &line[at..at + 32];
    assert!(trace.bytes().all(|b| b.is_ascii_hexdigit()), "{line}");

    let ring = server.ring().await;
    let record = ring
        .iter()
        .find(|r| r["correlationId"] == "req-log-ids")
        .unwrap_or_else(|| panic!("no record in {ring:?}"));
    assert_eq!(record["traceId"], trace, "{record}");
}
