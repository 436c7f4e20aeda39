//! Serving the app with limits `axum::serve` does not have: `axum::serve` gives hyper no timer,
//! so hyper's header read timeout is inert and a slowloris holds a connection (and its memory)
//! for as long as it trickles bytes. This accept loop serves each connection with
//! `hyper_util`'s auto (HTTP/1 + HTTP/2) builder with a Tokio timer:
//!
//! - a header read timeout: a client that has not sent a whole request head in time is
//!   disconnected;
//! - a cap on open connections (a semaphore taken before `accept`: past the cap, new
//!   connections wait in the kernel's backlog instead of costing memory and descriptors);
//! - a cap per peer (an IPv4 address, an IPv6 /64): past it a new connection is closed at once,
//!   so one client cannot take every slot;
//! - an idle timeout (no request in flight for that long, HTTP/1 keep-alive and HTTP/2 alike:
//!   hyper has none for HTTP/2, and its own PINGs keep an idle one open) and a maximum
//!   connection age, both ending the connection gracefully (HTTP/2 `GOAWAY`, HTTP/1 after the
//!   response in progress);
//! - graceful shutdown with a deadline: on the stop signal the listener closes, in-flight
//!   requests get the deadline to finish, then the remaining connections are dropped.
//!
//! Each refusal and close is counted ([`ConnectionStats`], in `/metrics` as
//! `vitals_connections_refused_total{reason}` and `vitals_connections_closed_total{reason}`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt as _;

/// The limits of [`serve`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Time a client has to send a request head.
    pub(crate) header_read_timeout: Duration,
    /// Connections open at once.
    pub(crate) max_connections: usize,
    /// Connections open at once from one IPv4 address or IPv6 /64.
    pub(crate) max_connections_per_peer: usize,
    /// A connection with no request in flight for this long is closed.
    pub(crate) idle_timeout: Duration,
    /// A connection is closed (gracefully) once this old.
    pub(crate) max_connection_age: Duration,
    /// Time in-flight requests get after the stop signal.
    pub(crate) shutdown_deadline: Duration,
}

/// Counts of refused and closed connections, shared by the listeners and reported in
/// `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct ConnectionStats {
    open: AtomicUsize,
    refused_per_peer: AtomicU64,
    closed_idle: AtomicU64,
    closed_max_age: AtomicU64,
    closed_header_timeout: AtomicU64,
}

impl ConnectionStats {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// [`ConnectionStats`] as a vitals reporter (`/metrics`, `/health/debug`).
#[derive(Debug)]
pub(crate) struct ConnectionReporter(pub(crate) Arc<ConnectionStats>);

impl vitals_axum::Reporter for ConnectionReporter {
    fn name(&self) -> &str {
        "connections"
    }

    fn metric_families(&self) -> Vec<vitals::MetricFamily> {
        let stats = &self.0;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64;
        let mut open = vitals::MetricFamily::gauge(
            "vitals_connections_open",
            "Connections open now, on both listeners.",
        );
        open.push(vec![], stats.open.load(Ordering::Relaxed) as f64);
        let mut refused = vitals::MetricFamily::counter(
            "vitals_connections_refused",
            "Connections closed at accept: the peer (IPv4 address, IPv6 /64) had its cap open.",
        );
        refused.push(
            vec![("reason", "per_peer".to_owned())],
            get(&stats.refused_per_peer),
        );
        let mut closed = vitals::MetricFamily::counter(
            "vitals_connections_closed",
            "Connections the server ended: idle past the idle timeout, older than the maximum \
             age, or no request head within the header timeout.",
        );
        for (reason, counter) in [
            ("idle_timeout", &stats.closed_idle),
            ("max_age", &stats.closed_max_age),
            ("header_timeout", &stats.closed_header_timeout),
        ] {
            closed.push(vec![("reason", reason.to_owned())], get(counter));
        }
        vec![open, refused, closed]
    }

    fn debug_json(&self) -> serde_json::Value {
        let stats = &self.0;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        serde_json::json!({
            "open": stats.open.load(Ordering::Relaxed),
            "refusedPerPeer": get(&stats.refused_per_peer),
            "closedIdle": get(&stats.closed_idle),
            "closedMaxAge": get(&stats.closed_max_age),
            "closedHeaderTimeout": get(&stats.closed_header_timeout),
        })
    }
}

/// An IPv4 address, or the /64 of an IPv6 one (IPv4-mapped addresses as their IPv4).
fn peer_key(ip: IpAddr) -> u128 {
    match ip.to_canonical() {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => (u128::from(v6) >> 64) | (1 << 127),
    }
}

/// Open connections per peer; an entry lives while its peer has a connection open, so the map
/// holds at most `max_connections` entries.
#[derive(Debug, Default)]
struct Peers(Mutex<HashMap<u128, usize>>);

/// A peer's slot, given back on drop.
struct PeerSlot {
    peers: Arc<Peers>,
    key: u128,
}

impl Peers {
    fn take(self: &Arc<Self>, key: u128, cap: usize) -> Option<PeerSlot> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let open = map.entry(key).or_insert(0);
        if *open >= cap {
            return None;
        }
        *open += 1;
        Some(PeerSlot {
            peers: Arc::clone(self),
            key,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut map = self.peers.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(open) = map.get_mut(&self.key) {
            *open -= 1;
            if *open == 0 {
                map.remove(&self.key);
            }
        }
    }
}

/// How long a connection closed for idleness or age may take to finish closing once nothing is
/// in flight.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Requests in flight on one connection and when the last one ended (ms since it opened).
#[derive(Debug, Default)]
struct Activity {
    in_flight: AtomicUsize,
    last_ms: AtomicU64,
}

/// Serves `app` on `listener` until `stop` turns true, then drains within the deadline.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    stats: Arc<ConnectionStats>,
    mut stop: watch::Receiver<bool>,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(limits.header_read_timeout));
    let builder = Arc::new(builder);
    let max = limits.max_connections;
    let slots = Arc::new(Semaphore::new(max));
    let peers = Arc::new(Peers::default());
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = stop.wait_for(|stopped| *stopped) => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors or a reset before accept: wait a little, go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.wait_for(|stopped| *stopped) => break,
        };
        let Some(peer_slot) = peers.take(peer_key(peer.ip()), limits.max_connections_per_peer)
        else {
            ConnectionStats::bump(&stats.refused_per_peer);
            drop(stream);
            continue;
        };
        let born = Instant::now();
        let activity = Arc::new(Activity::default());
        let app = app.clone();
        let seen = Arc::clone(&activity);
        let service = TowerToHyperService::new(tower::service_fn(
            move |mut req: http::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                let seen = Arc::clone(&seen);
                seen.in_flight.fetch_add(1, Ordering::AcqRel);
                let call = app.clone().oneshot(req);
                async move {
                    let res = call.await;
                    seen.last_ms
                        .store(born.elapsed().as_millis() as u64, Ordering::Release);
                    seen.in_flight.fetch_sub(1, Ordering::AcqRel);
                    res
                }
            },
        ));
        let builder = Arc::clone(&builder);
        let stats = Arc::clone(&stats);
        let mut stop = stop.clone();
        stats.open.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let mut closing = *stop.borrow();
            if closing {
                connection.as_mut().graceful_shutdown();
            }
            // After a graceful close, a peer that neither finishes nor hangs up (an h2c client
            // that never acknowledges GOAWAY) is dropped once nothing is in flight.
            let mut drop_at: Option<Instant> = None;
            loop {
                // The next moment something may end the connection: its age, or its idle time.
                let idle_at = born
                    + Duration::from_millis(activity.last_ms.load(Ordering::Acquire))
                    + limits.idle_timeout;
                let check_at = idle_at.min(born + limits.max_connection_age);
                tokio::select! {
                    result = connection.as_mut() => {
                        // Errors are the client's (a reset, a timeout, a malformed request).
                        if let Err(e) = result {
                            if e.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_timeout) {
                                ConnectionStats::bump(&stats.closed_header_timeout);
                            }
                        }
                        break;
                    }
                    () = tokio::time::sleep_until(drop_at.unwrap_or(check_at)), if drop_at.is_some() => {
                        if activity.in_flight.load(Ordering::Acquire) == 0 {
                            break;
                        }
                        drop_at = Some(Instant::now() + CLOSE_GRACE);
                    }
                    () = tokio::time::sleep_until(check_at), if !closing => {
                        let now = Instant::now();
                        if now >= born + limits.max_connection_age {
                            ConnectionStats::bump(&stats.closed_max_age);
                            connection.as_mut().graceful_shutdown();
                            closing = true;
                            drop_at = Some(now + CLOSE_GRACE);
                        } else if activity.in_flight.load(Ordering::Acquire) == 0 && now >= idle_at {
                            ConnectionStats::bump(&stats.closed_idle);
                            connection.as_mut().graceful_shutdown();
                            closing = true;
                            drop_at = Some(now + CLOSE_GRACE);
                        } else if activity.in_flight.load(Ordering::Acquire) > 0 {
                            // Busy: look again an idle timeout from now.
                            activity.last_ms.store(born.elapsed().as_millis() as u64, Ordering::Release);
                        }
                    }
                    _ = stop.wait_for(|stopped| *stopped), if !closing => {
                        connection.as_mut().graceful_shutdown();
                        closing = true;
                    }
                }
            }
            stats.open.fetch_sub(1, Ordering::Relaxed);
            drop(peer_slot);
            drop(permit);
        });
    }
    drop(listener);
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    tokio::select! {
        _ = slots.acquire_many(all) => {}
        () = tokio::time::sleep(limits.shutdown_deadline) => {
            tracing::warn!(
                "in-flight requests did not finish within {:?}; exiting anyway",
                limits.shutdown_deadline
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_are_ipv4_addresses_and_ipv6_64s() {
        let key = |s: &str| peer_key(s.parse().unwrap());
        assert_ne!(key("10.0.0.1"), key("10.0.0.2"));
        assert_eq!(key("::ffff:10.0.0.1"), key("10.0.0.1"));
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_ne!(key("::a00:1"), key("10.0.0.1"));
    }

    #[test]
    fn a_peer_gets_its_cap_and_slots_come_back() {
        let peers = Arc::new(Peers::default());
        let held: Vec<_> = (0..3).map(|_| peers.take(7, 3).unwrap()).collect();
        assert!(peers.take(7, 3).is_none());
        assert!(peers.take(8, 3).is_some());
        drop(held);
        assert!(peers.take(7, 3).is_some());
        assert!(peers.0.lock().unwrap().len() <= 1);
    }
}
