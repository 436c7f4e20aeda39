//! The database against real SQLite files and in memory.

use super::*;

fn new_property(name: &str, address: &str, units: u32) -> NewProperty {
    NewProperty {
        name: name.to_owned(),
        address: address.to_owned(),
        units,
    }
}

#[test]
fn parses_locations() {
    let file = |p: &str| Location::File(PathBuf::from(p));
    assert_eq!(parse_location("data/v.db").unwrap(), file("data/v.db"));
    assert_eq!(
        parse_location("sqlite:data/v.db").unwrap(),
        file("data/v.db")
    );
    assert_eq!(
        parse_location("sqlite://data/v.db").unwrap(),
        file("data/v.db")
    );
    assert_eq!(
        parse_location("sqlite:///tmp/v.db").unwrap(),
        file("/tmp/v.db")
    );
    assert_eq!(
        parse_location("SQLITE://v.db?mode=rwc").unwrap(),
        file("v.db")
    );
    assert_eq!(parse_location(":memory:").unwrap(), Location::Memory);
    assert_eq!(parse_location("sqlite::memory:").unwrap(), Location::Memory);
    assert_eq!(
        parse_location("sqlite://:memory:").unwrap(),
        Location::Memory
    );
    assert!(parse_location("").is_err());
    assert!(parse_location("sqlite://").is_err());
}

#[tokio::test]
async fn seeds_three_orgs_with_three_properties_each() {
    let temp = TempDb::new();
    for org in ["acme", "globex", "initech"] {
        assert!(temp.db.org_exists(org).await.unwrap());
        let properties = temp.db.list_properties(org).await.unwrap().unwrap();
        assert_eq!(properties.len(), 3, "{org}");
        for property in &properties {
            assert_eq!(property.organization_id, org);
            assert!(
                property.created_at.ends_with('Z'),
                "{}",
                property.created_at
            );
            assert!(property.units >= 1);
        }
    }
    temp.db.ping().await.unwrap();
}

#[tokio::test]
async fn reopening_does_not_seed_twice_and_keeps_data() {
    let temp = TempDb::new();
    let created = temp
        .db
        .create_property("acme", new_property("Extra", "1 Main St", 5))
        .await
        .unwrap()
        .unwrap();
    let reopened = Db::open(&format!("sqlite://{}", temp.path.display())).unwrap();
    let acme = reopened.list_properties("acme").await.unwrap().unwrap();
    assert_eq!(acme.len(), 4);
    assert_eq!(acme.last(), Some(&created));
    assert_eq!(
        reopened
            .list_properties("globex")
            .await
            .unwrap()
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn unknown_org_is_none() {
    let temp = TempDb::new();
    assert!(!temp.db.org_exists("nope").await.unwrap());
    assert_eq!(temp.db.list_properties("nope").await.unwrap(), None);
    assert_eq!(temp.db.get_property("nope", 1).await.unwrap(), None);
    assert_eq!(
        temp.db
            .create_property("nope", new_property("A", "B", 1))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn create_then_get() {
    let temp = TempDb::new();
    let created = temp
        .db
        .create_property("globex", new_property("  New Tower ", " 2 Side St ", 120))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(created.organization_id, "globex");
    assert_eq!(created.name, "New Tower");
    assert_eq!(created.address, "2 Side St");
    assert_eq!(created.units, 120);
    assert!(created.id > 9);
    let fetched = temp.db.get_property("globex", created.id).await.unwrap();
    assert_eq!(fetched.as_ref(), Some(&created));
    // Property ids are scoped by organization.
    assert_eq!(
        temp.db.get_property("acme", created.id).await.unwrap(),
        None
    );
    assert_eq!(temp.db.get_property("globex", 999_999).await.unwrap(), None);
}

#[tokio::test]
async fn validation_reports_each_field_and_writes_nothing() {
    let temp = TempDb::new();
    let invalid = new_property("   ", &"x".repeat(501), 0);
    let Err(DbError::Validation(errors)) = temp.db.create_property("acme", invalid).await else {
        panic!("expected a validation error");
    };
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["name", "address", "units"]);
    assert_eq!(errors[0].message, "must not be empty");
    assert_eq!(
        temp.db
            .list_properties("acme")
            .await
            .unwrap()
            .unwrap()
            .len(),
        3
    );

    assert!(new_property(&"é".repeat(200), "a", 1).validate().is_ok());
    assert!(new_property(&"é".repeat(201), "a", 1).validate().is_err());
    assert!(new_property("a", "a", 100_000).validate().is_ok());
    assert!(new_property("a", "a", 100_001).validate().is_err());
}

#[tokio::test]
async fn memory_database_is_shared_by_clones() {
    let db = Db::open(":memory:").unwrap();
    let clone = db.clone();
    let created = db
        .create_property("initech", new_property("Mem", "Ram Rd", 3))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        clone.get_property("initech", created.id).await.unwrap(),
        Some(created)
    );
}

#[test]
fn errors_do_not_leak_sql() {
    let error = DbError::from(rusqlite::Error::InvalidQuery);
    assert_eq!(error.to_string(), "database query failed");
    assert!(std::error::Error::source(&error).is_some());
}
