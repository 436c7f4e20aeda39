//! A real actix-web server with the middleware under a few hundred requests, then vitals'
//! `/metrics` read from the operator listener.

use std::net::SocketAddr;

use actix_web::{App, HttpResponse, HttpServer, web};
use vitals_actix::VitalsMiddleware;

async fn user(path: web::Path<u32>) -> HttpResponse {
    tracing::info!(user = *path, "served user");
    HttpResponse::Ok().body(format!("user {path}"))
}

async fn items(path: web::Path<String>) -> HttpResponse {
    HttpResponse::Ok().body(format!("items of {path}"))
}

#[test]
fn routes_templates_404_fold_and_request_ids() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let vitals = rt.block_on(async { vitals_axum::Vitals::builder().build() });
    let operator = rt.block_on(async {
        let op = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = op.local_addr().unwrap();
        let router = vitals.router().layer(vitals.layers());
        tokio::spawn(async move {
            axum::serve(
                op,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
        });
        addr
    });
    let middleware = VitalsMiddleware::for_vitals(&vitals);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = HttpServer::new(move || {
        App::new()
            .wrap(middleware.clone())
            .route("/users/{id}", web::get().to(user))
            .route("/orgs/{orgId}/items", web::get().to(items))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    let thread = std::thread::spawn(move || actix_web::rt::System::new().block_on(server));

    rt.block_on(async {
        let client = reqwest::Client::new();
        let base = format!("http://{addr}");
        let mut ids = std::collections::HashSet::new();
        for i in 0..300u32 {
            let url = match i % 3 {
                0 => format!("{base}/users/{i}"),
                1 => format!("{base}/orgs/org{}/items", i % 4),
                _ => format!("{base}/scan/{i}/wp-admin.php"),
            };
            let res = client.get(&url).send().await.unwrap();
            let want = if i % 3 == 2 { 404 } else { 200 };
            assert_eq!(res.status().as_u16(), want, "{url}");
            let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
            assert_eq!(id.len(), 36);
            ids.insert(id);
        }
        assert_eq!(ids.len(), 300, "every request its own id");
        let res = client
            .get(format!("{base}/users/1"))
            .header("x-request-id", "client-chosen-7")
            .send()
            .await
            .unwrap();
        assert_eq!(res.headers()["x-request-id"], "client-chosen-7");

        let m = reqwest::get(format!("http://{operator}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let count = |route: &str| -> f64 {
            m.lines()
                .filter(|l| l.starts_with("http_server_request_duration_seconds_count{"))
                .filter(|l| l.contains(&format!("route=\"{route}\"")))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        assert_eq!(count("/users/{id}"), 101.0, "{m}");
        assert_eq!(count("/orgs/{orgId}/items"), 100.0);
        assert_eq!(count("(unmatched)"), 100.0);
        assert!(!m.contains("wp-admin"), "a raw path minted a series");
        assert!(!m.contains("/users/1\""), "a raw path minted a series");
        assert!(m.contains("organization=\"org1\""), "tenant from {{orgId}}");
    });
    rt.block_on(handle.stop(true));
    thread.join().unwrap().unwrap();
}
