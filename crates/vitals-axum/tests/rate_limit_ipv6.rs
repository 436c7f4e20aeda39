//! An IPv6 table flood degrades the flooding prefix, not everyone: once the limiter's table is
//! at 7/8 of its cap, new IPv6 networks are keyed by their /48, so a client rotating through
//! thousands of /64s of one /48 shares one bucket from then on, and a client from another
//! prefix still gets a bucket of its own.

use std::convert::Infallible;
use std::net::{Ipv6Addr, SocketAddr};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::{IntoResponse, Response};
use http::{Request, StatusCode};
use tower::{Layer, Service, ServiceExt};
use vitals_axum::{PRESSURE_IPV6_PREFIX, RateLimitLayer};

async fn ok(_req: Request<Body>) -> Result<Response, Infallible> {
    Ok("ok".into_response())
}

fn from(ip: Ipv6Addr) -> Request<Body> {
    let mut req = Request::get("/api/x").body(Body::empty()).unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((ip, 1000))));
    req
}

/// Host `host` of /64 number `net` inside the /48 `2001:db8:<site>::/48`.
fn addr(site: u16, net: u16, host: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, site, net, 0, 0, 0, host)
}

#[tokio::test(flavor = "current_thread")]
async fn a_flood_of_64s_from_one_48_leaves_other_prefixes_their_own_buckets() {
    assert_eq!(PRESSURE_IPV6_PREFIX, 48);
    const CAP: usize = 800;
    // Two requests per key in a long window: no key goes idle during the test.
    let layer = RateLimitLayer::per_window(2, Duration::from_secs(600)).max_keys(CAP);
    let mut svc = layer.layer(tower::service_fn(ok));
    let mut call = async |ip| {
        let res = svc.ready().await.unwrap().call(from(ip)).await.unwrap();
        res.status()
    };

    // The flood: one request from each of 3,000 /64s of 2001:db8:aaaa::/48.
    let mut admitted = 0;
    for net in 0..3_000u16 {
        if call(addr(0xaaaa, net, 1)).await == StatusCode::OK {
            admitted += 1;
        }
    }
    // Its own key for each /64 until 7/8 of the cap (700), then one /48 bucket of 2.
    assert_eq!(
        admitted,
        CAP - CAP / 8 + 2,
        "the flood's /64s past the pressure share one bucket"
    );
    // A /64 that got its key before the pressure keeps it.
    assert_eq!(call(addr(0xaaaa, 5, 2)).await, StatusCode::OK);
    assert_eq!(
        call(addr(0xaaaa, 5, 3)).await,
        StatusCode::TOO_MANY_REQUESTS
    );

    // Another prefix: a bucket of its own, not the flood's and not an exhausted overflow.
    for site in [0xbbbb, 0xcccc] {
        assert_eq!(call(addr(site, 1, 1)).await, StatusCode::OK, "{site:x}");
        assert_eq!(call(addr(site, 2, 1)).await, StatusCode::OK, "{site:x}");
        assert_eq!(
            call(addr(site, 3, 1)).await,
            StatusCode::TOO_MANY_REQUESTS,
            "{site:x}: its /64s share its /48 bucket under pressure"
        );
    }
    // IPv4 keys are not coarsened: each address its own while there is room.
    for i in 0..10u8 {
        let mut req = Request::get("/api/x").body(Body::empty()).unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([192, 0, 2, i], 1000))));
        let res = svc.ready().await.unwrap().call(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
}
