//! Budgets as alerts of the alert engine: per budget, `budgetPage:<name>` (critical) while a
//! page pair of windows burns too fast (1 h and 5 min above 14.4, or 6 h and 30 min above 6)
//! and `budgetTicket:<name>` (warning) while a ticket pair does (1 d and 2 h above 3, or 3 d
//! and 6 h above 1), the Google SRE workbook's multiwindow burn-rate alerts. The sampling loop
//! hands them to [`vitals::AlertEngine::evaluate_conditions`], so they fire and resolve like
//! the engine's own alerts: listed as active, written with the minute, notified.

use vitals::{AlertCondition, Severity};
use vitals_store::budget::{BudgetStatus, Status, window_label};

/// The alert name of a budget's page or ticket alert.
pub(crate) fn alert_name(status: Status, budget: &str) -> String {
    match status {
        Status::Page => format!("budgetPage:{budget}"),
        _ => format!("budgetTicket:{budget}"),
    }
}

/// The page and ticket conditions of each evaluated budget.
pub(crate) fn conditions(statuses: &[BudgetStatus]) -> Vec<AlertCondition> {
    let mut out = Vec::with_capacity(statuses.len() * 2);
    for s in statuses {
        for (status, severity) in [
            (Status::Page, Severity::Critical),
            (Status::Ticket, Severity::Warning),
        ] {
            let mut c = AlertCondition::new(alert_name(status, &s.name));
            if let Some((pair, rate)) = s.hottest_pair(status) {
                c.value = rate;
                c.threshold = pair.factor;
                let burning = rate > pair.factor;
                c.severity = burning.then_some(severity);
                c.message = format!(
                    "Budget {} burns its error budget {:.1}x too fast over {} and {} (a {} above {})",
                    s.name,
                    rate,
                    window_label(pair.long_minutes),
                    window_label(pair.short_minutes),
                    if status == Status::Page {
                        "page"
                    } else {
                        "ticket"
                    },
                    pair.factor,
                );
            }
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use vitals_store::budget::BurnRate;

    use super::*;

    fn status(rates: [f64; 7]) -> BudgetStatus {
        let windows = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"];
        BudgetStatus {
            name: "api".into(),
            series: 1,
            objective: 0.999,
            window_days: 30.0,
            good: 0,
            total: 0,
            sli: None,
            error_budget_remaining: 1.0,
            burn_rates: windows
                .iter()
                .zip(rates)
                .map(|(w, rate)| BurnRate {
                    window: (*w).to_owned(),
                    minutes: 0,
                    total: 1,
                    bad: 0,
                    rate,
                })
                .collect(),
            status: Status::Ok,
        }
    }

    #[test]
    fn page_and_ticket_hold_when_both_windows_of_a_pair_burn() {
        // 5m, 30m, 1h, 2h, 6h, 1d, 3d
        let c = conditions(&[status([20.0, 0.0, 15.0, 4.0, 0.5, 3.5, 0.2])]);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].type_, "budgetPage:api");
        assert_eq!(c[0].severity, Some(Severity::Critical));
        assert_eq!((c[0].value, c[0].threshold), (15.0, 14.4));
        assert!(c[0].message.contains("over 1h and 5m"), "{}", c[0].message);
        assert_eq!(c[1].type_, "budgetTicket:api");
        assert_eq!(c[1].severity, Some(Severity::Warning));
        assert_eq!((c[1].value, c[1].threshold), (3.5, 3.0));

        // The long window burns, the short one has stopped: no page (the pair's reset).
        let c = conditions(&[status([1.0, 0.0, 15.0, 0.0, 0.5, 3.5, 0.2])]);
        assert_eq!((c[0].severity, c[1].severity), (None, None));
        assert_eq!(c[0].value, 1.0);
    }
}
