use crate::store::testutil::{on_both, TestDb};
use crate::store::{Role, StoreError, User};

fn users_crud(db: &TestDb) {
    let store = db.open(1);
    let alice = User { name: "alice".into(), role: Role::Admin, password_hash: "$argon2id$x".into() };
    let nasty = User { name: "bob'); DELETE FROM users; --".into(), role: Role::Auditor, password_hash: "h".into() };
    store.add_user(&alice).unwrap();
    store.add_user(&nasty).unwrap();
    assert!(matches!(store.add_user(&alice), Err(StoreError::AlreadyExists { .. })));
    assert_eq!(store.users().unwrap(), vec![alice.clone(), nasty.clone()]);
    assert_eq!(store.user(&nasty.name).unwrap(), Some(nasty.clone()));

    store.set_user_role("alice", Role::Operator).unwrap();
    store.set_user_password_hash("alice", "new").unwrap();
    let a = store.user("alice").unwrap().unwrap();
    assert_eq!((a.role, a.password_hash.as_str()), (Role::Operator, "new"));
    store.delete_user(&nasty.name).unwrap();
    assert_eq!(store.users().unwrap().len(), 1);
    assert!(matches!(store.delete_user("nobody"), Err(StoreError::NotFound { .. })));
    assert!(store.set_user_role("nobody", Role::Admin).is_err());
}

fn users_are_counted_by_role_and_second_factor(db: &TestDb) {
    let store = db.open(1);
    assert_eq!(store.user_counts().unwrap(), vec![]);
    for (name, role) in [("a1", Role::Admin), ("a2", Role::Admin), ("o1", Role::Operator)] {
        store.add_user(&User { name: name.into(), role, password_hash: "h".into() }).unwrap();
    }
    store.set_user_totp("a2", Some("sealed")).unwrap();
    let mut counts = store.user_counts().unwrap();
    counts.sort_by_key(|(r, f, _)| (r.as_str(), *f));
    assert_eq!(counts, vec![(Role::Admin, false, 1), (Role::Admin, true, 1), (Role::Operator, false, 1)]);
}

fn licence_round_trips_and_replaces(db: &TestDb) {
    let store = db.open(1);
    assert_eq!(store.licence().unwrap(), None);
    let bytes: Vec<u8> = (0..=255).collect();
    store.set_licence(&bytes, 1).unwrap();
    assert_eq!(store.licence().unwrap(), Some(bytes));
    store.set_licence(b"v2", 2).unwrap();
    assert_eq!(store.licence().unwrap(), Some(b"v2".to_vec()));
}

on_both!(users_crud, users_are_counted_by_role_and_second_factor, licence_round_trips_and_replaces,);
