use super::*;
use crate::store::test_db;

fn add(db: &crate::store::Db, name: &str, parent: Option<WorkspaceId>) -> WorkspaceId {
    let new = NewWorkspace {
        name: name.into(),
        role: None,
        tier: 2,
        runtime: "langgraph".into(),
        parent_id: parent,
    };
    db.write(1, |ctx| insert(ctx, new)).unwrap().id
}

#[test]
fn the_tree_walks_both_ways_and_deletes_whole() {
    let (_dir, db) = test_db();
    let root = add(&db, "root", None);
    let kid = add(&db, "kid", Some(root));
    let grandkid = add(&db, "grandkid", Some(kid));
    let other = add(&db, "other", None);
    assert_eq!(db.read(|c| ancestors(c, grandkid)).unwrap(), vec![grandkid, kid, root]);
    assert_eq!(db.read(|c| height(c, root)).unwrap(), 3);
    assert!(db.read(|c| within(c, grandkid, &[root])).unwrap());
    assert!(!db.read(|c| within(c, other, &[root])).unwrap());
    assert!(db.read(|c| all_live(c, &[root, other])).unwrap());
    let gone = db.write(2, |ctx| mark_subtree_deleted(ctx, kid)).unwrap();
    assert_eq!(gone.len(), 2);
    assert!(db.read(|c| get(c, grandkid)).unwrap().is_none());
    assert!(!db.read(|c| all_live(c, &[root, kid])).unwrap());
    let (children, total) = db.read(|c| children(c, root, 10)).unwrap();
    assert_eq!((children.len(), total), (0, 0));
    assert_eq!(db.read(|c| list(c, None)).unwrap().len(), 2);
}

#[test]
fn a_heartbeat_starts_the_idle_clock_and_tasks_stop_it() {
    let (_dir, db) = test_db();
    let id = add(&db, "w", None);
    let w = db.write(10, |ctx| heartbeat(ctx, id, 0, None, 0)).unwrap().unwrap();
    assert_eq!((w.last_heartbeat_at, w.idle_since), (Some(10), Some(10)));
    let w = db.write(20, |ctx| heartbeat(ctx, id, 0, None, 0)).unwrap().unwrap();
    assert_eq!(w.idle_since, Some(10), "an unbroken idle run keeps its start");
    let w = db
        .write(30, |ctx| heartbeat(ctx, id, 2, Some("t"), 0))
        .unwrap()
        .unwrap();
    assert_eq!((w.idle_since, w.current_task.as_deref()), (None, Some("t")));
}
