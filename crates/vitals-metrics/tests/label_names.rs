//! Label names are leaked into a process-wide table (the core's model wants `&'static str`):
//! at most `MAX_LABEL_NAMES` of them, later ones refused. Its own process: the table is global.

use vitals_metrics::{Config, MAX_LABEL_NAMES, Registry};

#[test]
fn distinct_label_names_stop_at_the_interning_cap() {
    let registry = Registry::new(Config::default().max_label_sets(10_000));
    let extra = 100;
    metrics::with_local_recorder(&registry, || {
        for i in 0..MAX_LABEL_NAMES + extra {
            metrics::counter!("keyed_by_input", format!("k{i}") => "v").increment(1);
        }
        // Names already interned still work after the cap.
        metrics::counter!("keyed_by_input", "k0" => "w").increment(1);
    });
    let snapshot = registry.snapshot();
    assert_eq!(snapshot.label_names, MAX_LABEL_NAMES);
    assert_eq!(snapshot.refused["too_many_label_names"], extra as u64);
    assert_eq!(snapshot.families[0].series.len(), MAX_LABEL_NAMES + 1);
}
