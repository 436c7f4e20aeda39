//! Performance budgets.
