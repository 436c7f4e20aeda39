//! The reference API's bounds over real HTTP on the real binary: a body over 16 KiB is a 413
//! problem, the list is paged with a `Link` to the
//! next page, bad paging is a 400 problem, and an organization at its cap answers 409.

#[allow(dead_code)]
mod support;

use serde_json::json;
use support::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_limit_pagination_and_the_per_organization_cap() {
    let server = Server::start_with(&[("VITALS_MAX_PROPERTIES_PER_ORG", "5")]);
    let path = "/api/orgs/acme/properties";

    let big = json!({"name": "x".repeat(17 * 1024), "address": "1 Main St", "units": 4});
    server
        .post_json(path, &big.to_string())
        .await
        .assert_problem(413);
    // acme has 3 seeded properties; the cap of 5 leaves room for 2.
    let new = json!({"name": "More", "address": "1 Main St", "units": 4}).to_string();
    for _ in 0..2 {
        assert_eq!(server.post_json(path, &new).await.status, 201);
    }
    let full = server.post_json(path, &new).await;
    full.assert_problem(409);
    assert_eq!(full.json["limit"], 5, "{}", full.text);

    let first = server.get(&format!("{path}?limit=2")).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.json.as_array().unwrap().len(), 2);
    let link = first.header("link").expect("a next link").to_owned();
    let next = link
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap()
        .to_owned();
    assert!(link.ends_with("rel=\"next\""), "{link}");
    let second = server.get(&next).await;
    assert_eq!(second.json.as_array().unwrap().len(), 2);
    let third = server
        .get(
            second
                .header("link")
                .unwrap()
                .trim_start_matches('<')
                .split('>')
                .next()
                .unwrap(),
        )
        .await;
    assert_eq!(third.json.as_array().unwrap().len(), 1);
    assert!(
        third.header("link").is_none(),
        "the last page has no next link"
    );

    for bad in ["limit=0", "limit=1001", "limit=ten", "after=-3"] {
        server
            .get(&format!("{path}?{bad}"))
            .await
            .assert_problem(400);
    }
}
