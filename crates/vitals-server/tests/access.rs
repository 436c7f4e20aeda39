//! Who may reach what on the real `vitals-server` binary: demo routes off unless switched on
//! and then operator-only, loopback-only mode refusing proxied requests and foreign `Host`
//! names, and the start-up errors and warnings of the access settings.

#[allow(dead_code)]
mod support;

use std::process::Command;

use support::Server;

const TOKEN: &str = "s3cret-operator-token-0123456789ab";

/// Runs the binary with `env` and expects it to fail at start-up; returns its output.
fn start_up_error(env: &[(&str, &str)]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vitals-server"));
    command
        .env_remove("VITALS_ADMIN_TOKEN")
        .env_remove("VITALS_DEMO")
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("VITALS_OPERATOR_ADDR", "127.0.0.1:0")
        .env("DATABASE_URL", ":memory:")
        .env("NO_COLOR", "1");
    for (name, value) in env {
        command.env(name, value);
    }
    let out = command.output().expect("running vitals-server");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{env:?} started: {text}");
    assert!(!text.contains("listening on"), "{env:?}: {text}");
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_routes_do_not_exist_unless_switched_on() {
    let server = Server::start();
    for (method, path) in [
        ("POST", "/api/demo/db-fault?on=true"),
        ("POST", "/api/demo/leak?mb=10"),
        ("GET", "/api/demo/cpu?ms=1"),
        ("GET", "/api/demo/block?ms=1"),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let answer = server
            .send(server.client().request(method, server.url(path)))
            .await;
        answer.assert_problem(404);
    }
    // The database still answers: no fault was switched on.
    assert_eq!(server.get("/health").await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_routes_when_on_need_the_operator_token() {
    let server = Server::start_with(&[("VITALS_DEMO", "1"), ("VITALS_ADMIN_TOKEN", TOKEN)]);
    let fault = "/api/demo/db-fault?on=true";
    let anonymous = server.send(server.client().post(server.url(fault))).await;
    anonymous.assert_problem(401);
    let wrong = server
        .send(
            server
                .client()
                .post(server.url(fault))
                .header("authorization", "Bearer nope"),
        )
        .await;
    wrong.assert_problem(401);
    assert_eq!(server.get("/health").await.status, 200, "no fault yet");

    let cpu = server
        .get_with(
            "/api/demo/cpu?ms=1",
            &[("authorization", "bearer s3cret-operator-token-0123456789ab")],
        )
        .await;
    cpu.assert_ok_json();
    let off = server
        .send(
            server
                .client()
                .post(server.url("/api/demo/db-fault?on=false"))
                .header("authorization", format!("Bearer {TOKEN}")),
        )
        .await;
    off.assert_ok_json();
}

#[tokio::test(flavor = "multi_thread")]
async fn loopback_only_refuses_proxied_requests_and_foreign_hosts() {
    let server = Server::start_with(&[("VITALS_DEMO", "1")]);
    let debug = "/health/debug";
    server.get(debug).await.assert_ok_json();
    for (name, value) in [
        ("forwarded", "for=203.0.113.7"),
        ("x-forwarded-for", "203.0.113.7"),
        ("x-real-ip", "203.0.113.7"),
    ] {
        let refused = server.get_with(debug, &[(name, value)]).await;
        refused.assert_problem(403);
        assert!(
            refused.json["detail"].as_str().unwrap().contains(name),
            "{}",
            refused.text
        );
        // The demo routes are operator-only too.
        let demo = server
            .get_with("/api/demo/cpu?ms=1", &[(name, value)])
            .await;
        demo.assert_problem(403);
    }
    // DNS rebinding: a page at evil.example resolving to 127.0.0.1 sends its own name.
    let rebound = server
        .get_with(debug, &[("host", "evil.example:4600")])
        .await;
    rebound.assert_problem(403);
    for host in ["localhost:4600", "127.0.0.1"] {
        server
            .get_with(debug, &[("host", host)])
            .await
            .assert_ok_json();
    }
    // Public endpoints do not care.
    let ping = server
        .get_with(
            "/health/ping",
            &[("x-forwarded-for", "203.0.113.7"), ("host", "evil.example")],
        )
        .await;
    ping.assert_ok_json();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_non_loopback_operator_address_without_token_warns_at_start() {
    // The public listener on every interface is fine: it serves no operator data without a
    // token. The operator listener on one is worth a warning.
    let server = Server::start_with(&[("VITALS_OPERATOR_ADDR", "0.0.0.0:0")]);
    let output = server.output();
    assert!(
        output.contains("is not a loopback address and VITALS_ADMIN_TOKEN is not set"),
        "{output}"
    );
    let quiet = Server::start_with(&[("HOST", "0.0.0.0")]);
    assert!(
        !quiet.output().contains("not a loopback address"),
        "{}",
        quiet.output()
    );
}

#[test]
fn a_blank_token_is_a_start_up_error() {
    for blank in ["", "   "] {
        let text = start_up_error(&[("VITALS_ADMIN_TOKEN", blank)]);
        assert!(text.contains("VITALS_ADMIN_TOKEN"), "{text}");
    }
    let text = start_up_error(&[("VITALS_DEMO", "yes")]);
    assert!(text.contains("VITALS_DEMO"), "{text}");
}

#[test]
fn nonsense_settings_are_start_up_errors_naming_the_variable() {
    for (name, value) in [
        ("VITALS_PRESSURE_MAX_DELAY_MS", "1e30"),
        ("VITALS_PRESSURE_MAX_DELAY_MS", "NaN"),
        ("VITALS_PRESSURE_MAX_HEAP_MB", "1e300"),
        ("VITALS_PRESSURE_MAX_RSS_MB", "-5"),
        ("VITALS_PRESSURE_MAX_BUSY_RATIO", "1.5"),
        ("VITALS_SAMPLE_INTERVAL_MS", "0"),
        ("VITALS_DB_BREAKER_TIMEOUT_MS", "99999999999999999999"),
        ("VITALS_DB_BREAKER_THRESHOLD", "0"),
        ("VITALS_RATE_LIMIT_MAX", "0"),
        ("VITALS_RATE_LIMIT_WINDOW_MS", "0"),
        ("VITALS_RESOURCES_EVERY", "-1"),
    ] {
        let text = start_up_error(&[(name, value)]);
        assert!(text.contains(name), "{name}={value}: {text}");
        assert!(!text.contains("panicked"), "{name}={value}: {text}");
    }
}
