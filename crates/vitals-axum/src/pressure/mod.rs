//! The load-shedding middleware: [`Pressure`] (thresholds and state, evaluated after every
//! sample), [`PressureLayer`], [`PressureService`] and [`ResponseFuture`].

mod future;
mod layer;
mod service;
mod state;

pub use future::ResponseFuture;
pub use layer::PressureLayer;
pub use service::PressureService;
pub use state::{
    Pressure, PressureBuilder, PressureReason, PressureStatus, PressureThresholds, PressureValues,
};
