//! Installing as the global recorder, the error when one is set, and scoped recorders for
//! tests. One test function: the global recorder is per process.

use vitals_metrics::{InstallError, Registry};

#[test]
fn install_once_then_a_clear_error_and_local_recorders_still_work() {
    let global = vitals_metrics::install().expect("no recorder installed yet");
    metrics::counter!("signups").increment(1);
    assert!(global.render_text().contains("signups_total 1\n"));

    let err = Registry::default().install().unwrap_err();
    assert!(matches!(err, InstallError::AlreadySet));
    let message = err.to_string();
    assert!(message.contains("already installed"), "{message}");
    assert!(
        message.contains("metrics_util::layers::FanoutBuilder"),
        "{message}"
    );
    assert!(
        message.contains("metrics::with_local_recorder"),
        "{message}"
    );
    assert!(vitals_metrics::install().is_err());

    // A scoped recorder sees what is emitted inside its closure, and the global one does not.
    let local = Registry::default();
    metrics::with_local_recorder(&local, || {
        metrics::counter!("signups").increment(5);
    });
    assert!(local.render_text().contains("signups_total 5\n"));
    assert!(global.render_text().contains("signups_total 1\n"));
    metrics::counter!("signups").increment(1);
    assert!(global.render_text().contains("signups_total 2\n"));
}
