//! An actix-web app with vitals: `cargo run -p vitals-actix --example app`. The app on
//! 127.0.0.1:8080 (`curl -i 127.0.0.1:8080/users/7`), vitals' endpoints on 127.0.0.1:4601
//! (`curl -s 127.0.0.1:4601/metrics | grep users`).

use std::net::SocketAddr;

use actix_web::{App, HttpMessage, HttpRequest, HttpResponse, HttpServer, web};
use vitals_actix::{RequestId, VitalsMiddleware};

async fn user(req: HttpRequest, id: web::Path<u32>) -> HttpResponse {
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0);
    tracing::info!(user = *id, "served user");
    HttpResponse::Ok().body(format!(
        "user {id} (request {})\n",
        request_id
            .map(|r| r.as_str().to_owned())
            .unwrap_or_default()
    ))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let vitals = vitals_axum::Vitals::builder().build();
    let operator = tokio::net::TcpListener::bind("127.0.0.1:4601").await?;
    let router = vitals.router().layer(vitals.layers());
    tokio::spawn(async move {
        axum::serve(
            operator,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let middleware = VitalsMiddleware::for_vitals(&vitals);
    HttpServer::new(move || {
        App::new()
            .wrap(middleware.clone())
            .route("/users/{id}", web::get().to(user))
    })
    .bind(("127.0.0.1", 8080))?
    .run()
    .await
}
