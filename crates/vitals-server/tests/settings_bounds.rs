//! Size and count settings out of range stop the start with an error naming the variable
//! (never a wrapped value, never a panic): the real binary, one bad variable at a time.

use std::process::Command;

#[test]
fn out_of_range_sizes_are_start_up_errors_naming_the_variable() {
    for (name, value) in [
        // 2^44 MiB: `<< 20` would wrap to 0 bytes.
        ("VITALS_HISTORY_MAX_MB", "17592186044416"),
        ("VITALS_HISTORY_MAX_MB", "0"),
        ("VITALS_MAX_PROPERTIES_PER_ORG", "0"),
        ("VITALS_MAX_PROPERTIES_PER_ORG", "99999999999"),
        ("VITALS_RATE_LIMIT_REDIS_TIMEOUT_MS", "0"),
        ("VITALS_RATE_LIMIT_REDIS_TIMEOUT_MS", "18446744073709551615"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_vitals-server"))
            // In memory: nothing on disk to clean up.
            .env("DATABASE_URL", ":memory:")
            .env("PORT", "0")
            .env("HOST", "127.0.0.1")
            .env("VITALS_RATE_LIMIT_REDIS_URL", "redis://127.0.0.1:1")
            .env(name, value)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}={value} started");
        assert_eq!(out.status.code(), Some(1), "{name}={value}: {stderr}");
        assert!(stderr.contains(name), "{name}={value}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}={value}: {stderr}");
    }
}
