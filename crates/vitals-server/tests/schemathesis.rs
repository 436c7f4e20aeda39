//! The API contract, fuzzed from outside: `schemathesis` (PyPI) runs every operation of
//! `docs/openapi.json` against the real server (temporary SQLite file, free loopback port,
//! an operator token) with the checks the issue names: no server error, and status code,
//! content type and response body as documented (plus: operator endpoints refuse a request
//! without the token, an undocumented method is a 405 with `Allow`). Zero failures, else the
//! test fails with schemathesis' report.
//!
//! Also checked here: `GET /openapi.json` is operator-only and serves the committed document.
//!
//! Bounds: `SCHEMATHESIS_MAX_EXAMPLES` (default 15) cases per operation and phase, so the run
//! takes a couple of minutes on two cores. The checks and the per-operation settings are in
//! `tests/schemathesis.toml`: `/api/fail` may answer the 5xx it is asked for, and the
//! dashboard's event stream (open 60 s by design) is read up to its first event, which is
//! checked against the documented event schema.
//!
//! `schemathesis` comes from PyPI (`pip install schemathesis`). When it is missing the test
//! fails, unless `VITALS_SKIP_SCHEMATHESIS=1`, which skips it with a message.

#[allow(dead_code)]
mod support;

use std::path::PathBuf;
use std::process::Command;

use support::Server;

const SKIP_ENV: &str = "VITALS_SKIP_SCHEMATHESIS";
const TOKEN: &str = "schemathesis-operator-token-0123456789";

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `schemathesis --version`, or why it cannot run.
fn schemathesis_version() -> Result<String, String> {
    match Command::new("schemathesis").arg("--version").output() {
        Ok(out) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Ok(out) => Err(format!("exit {:?}", out.status.code())),
        Err(e) => Err(e.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_document_holds_against_the_running_server() {
    let version = match schemathesis_version() {
        Ok(v) => v,
        Err(error) if std::env::var(SKIP_ENV).is_ok_and(|v| v.trim() == "1") => {
            eprintln!("skipping the schemathesis run ({SKIP_ENV}=1): {error}");
            return;
        }
        Err(error) => panic!(
            "`schemathesis` could not be run ({error}); install it \
             (`pip install schemathesis`), or set {SKIP_ENV}=1 to skip this test"
        ),
    };
    eprintln!("using {}", version.trim());

    let server = Server::start_with(&[
        ("VITALS_ADMIN_TOKEN", TOKEN),
        // Plenty for the run: a 429 is documented, but each one is a case that tested nothing.
        ("VITALS_RATE_LIMIT_MAX", "1000000"),
        // Every request measured, so the optional resource fields appear in the answers.
        ("VITALS_RESOURCES_EVERY", "1"),
    ]);
    let bearer = format!("Bearer {TOKEN}");

    // Operator-only, and the same bytes as the committed document.
    let anonymous = server.get("/openapi.json").await;
    anonymous.assert_problem(401);
    let served = server
        .send(
            server
                .client()
                .get(server.public_url("/openapi.json"))
                .header("authorization", &bearer),
        )
        .await;
    assert_eq!(served.status, 200, "{}", served.text);
    assert_eq!(served.content_type(), "application/json");
    let committed = std::fs::read_to_string(workspace().join("docs/openapi.json"))
        .expect("reading docs/openapi.json");
    assert!(
        served.text == committed,
        "GET /openapi.json differs from docs/openapi.json: run `UPDATE_OPENAPI=1 cargo test -p \
         vitals-server openapi`"
    );

    let max_examples =
        std::env::var("SCHEMATHESIS_MAX_EXAMPLES").unwrap_or_else(|_| "15".to_owned());
    // The public listener with the token serves the whole of docs/openapi.json; the operator
    // listener serves docs/openapi-operator.json (no API), its own `/openapi.json` included.
    let operator_doc = std::fs::read_to_string(workspace().join("docs/openapi-operator.json"))
        .expect("reading docs/openapi-operator.json");
    let served_operator = server
        .send(
            server
                .client()
                .get(server.operator_url("/openapi.json"))
                .header("authorization", &bearer),
        )
        .await;
    assert!(
        served_operator.text == operator_doc,
        "the operator listener's /openapi.json differs from docs/openapi-operator.json"
    );
    for (document, url, text) in [
        ("docs/openapi.json", server.public_url(""), &committed),
        (
            "docs/openapi-operator.json",
            server.operator_url(""),
            &operator_doc,
        ),
    ] {
        run(&server, document, &url, &bearer, &max_examples, text).await;
    }
}

/// One schemathesis run of `document` against `url`; zero failures and every operation tested.
async fn run(
    server: &Server,
    document: &str,
    url: &str,
    bearer: &str,
    max_examples: &str,
    text: &str,
) {
    let report = tempfile_dir();
    let server_url = url.to_owned();
    let document_path = workspace().join(document);
    let bearer = bearer.to_owned();
    let max_examples = max_examples.to_owned();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("schemathesis")
            .arg("--config-file")
            .arg(workspace().join("crates/vitals-server/tests/schemathesis.toml"))
            .arg("run")
            .arg(document_path)
            .args(["--url", &server_url])
            .args(["--header", &format!("Authorization: {bearer}")])
            .args(["--max-examples", &max_examples])
            .args(["--workers", "1", "--seed", "20261203"])
            .args(["--request-timeout", "20", "--no-color"])
            .args(["--generation-database", "none"])
            .arg("--report-dir")
            .arg(&report)
            // Its caches (`.schemathesis`, `.hypothesis`) go there too, not into the tree.
            .current_dir(&report)
            .env("SCHEMATHESIS_TELEMETRY", "false")
            .output()
    })
    .await
    .expect("joining the schemathesis run")
    .expect("running schemathesis");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("{document}:\n{stdout}");
    assert!(
        output.status.success(),
        "schemathesis found failures in {document} (exit {:?}):\n{stdout}\n{stderr}\nserver output:\n{}",
        output.status.code(),
        server.output()
    );
    // It tested every operation (a run that selects nothing also exits 0).
    let operations = operation_count(text);
    assert!(
        stdout.contains(&format!("Tested: {operations}")),
        "expected {operations} operations tested in {document}:\n{stdout}"
    );
}

/// Operations (path × method) in the document.
fn operation_count(document: &str) -> usize {
    let doc: serde_json::Value = serde_json::from_str(document).expect("docs/openapi.json");
    doc["paths"]
        .as_object()
        .expect("paths")
        .values()
        .map(|item| item.as_object().map_or(0, serde_json::Map::len))
        .sum()
}

/// A fresh directory for schemathesis' files, under the target directory.
fn tempfile_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("schemathesis-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("creating the report directory");
    dir
}
