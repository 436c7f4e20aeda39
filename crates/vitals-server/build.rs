//! Build identity for `GET /info` and `vitals_build_info`: the commit, its time and branch,
//! the compiler, target, profile and features, under the variable names `vergen` uses (read by
//! `vitals_diag::build_info!`). Hand-written rather than `vergen`: a dozen lines of `git` and
//! `rustc` calls against a crate with its own dependency tree; a missing `git` (a source
//! tarball) leaves the git values unset, never guessed.

use std::process::Command;

fn run(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn set(name: &str, value: Option<String>) {
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        println!("cargo:rustc-env={name}={v}");
    }
}

fn main() {
    // Rebuilt when HEAD moves: a commit, a checkout or a reset writes the worktree's HEAD log.
    if let Some(dir) = run("git", &["rev-parse", "--absolute-git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        println!("cargo:rerun-if-changed={dir}/logs/HEAD");
    }
    set("VERGEN_GIT_SHA", run("git", &["rev-parse", "HEAD"]));
    set(
        "VERGEN_GIT_COMMIT_TIMESTAMP",
        run("git", &["log", "-1", "--format=%cI", "HEAD"]),
    );
    set(
        "VERGEN_GIT_BRANCH",
        run("git", &["rev-parse", "--abbrev-ref", "HEAD"]).filter(|b| b != "HEAD"),
    );
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    set(
        "VERGEN_RUSTC_SEMVER",
        run(&rustc, &["--version"]).and_then(|v| v.split_whitespace().nth(1).map(str::to_owned)),
    );
    set("VERGEN_CARGO_TARGET_TRIPLE", std::env::var("TARGET").ok());
    set("VITALS_BUILD_PROFILE", std::env::var("PROFILE").ok());
    let mut features: Vec<String> = std::env::vars()
        .filter_map(|(k, _)| {
            k.strip_prefix("CARGO_FEATURE_")
                .map(|f| f.to_lowercase().replace('_', "-"))
        })
        .collect();
    features.sort();
    set("VERGEN_CARGO_FEATURES", Some(features.join(",")));
    set(
        "VERGEN_BUILD_TIMESTAMP",
        Some(humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()),
    );
}
