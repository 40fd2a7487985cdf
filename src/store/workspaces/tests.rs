use super::*;
use crate::domain::workspace::{Beat, Report};
use crate::store::test_db;

fn add(db: &crate::store::Db, name: &str, parent: Option<WorkspaceId>) -> WorkspaceId {
    let new = NewWorkspace {
        name: name.into(),
        role: None,
        tier: 2,
        runtime: "langgraph".into(),
        parent_id: parent,
        layout: Layout::default(),
        settings: Settings::default(),
        url: None,
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
fn a_held_heartbeat_is_written_only_forward_and_never_onto_a_removed_workspace() {
    let (_dir, db) = test_db();
    let id = add(&db, "w", None);
    let beat = |at: i64, tasks: i64| Beat {
        at,
        idle_since: (tasks == 0).then_some(at),
        report: Report {
            active_tasks: tasks,
            current_task: Some("t".into()),
            ..Report::default()
        },
    };
    assert!(db.write(1, |ctx| record_beat(ctx, id, &beat(20, 2))).unwrap());
    assert!(
        !db.write(1, |ctx| record_beat(ctx, id, &beat(10, 0))).unwrap(),
        "an older beat loses"
    );
    let w = db.read(|c| get(c, id)).unwrap().unwrap();
    assert_eq!(
        (w.last_heartbeat_at, w.report.active_tasks, w.idle_since),
        (Some(20), 2, None)
    );
    assert_eq!(w.last_beat(), Some((20, None)));
    db.write(2, |ctx| mark_subtree_deleted(ctx, id)).unwrap();
    assert!(!db.write(3, |ctx| record_beat(ctx, id, &beat(30, 0))).unwrap());
}

#[test]
fn what_an_agent_registers_is_kept_and_a_blank_field_keeps_its_value() {
    let (_dir, db) = test_db();
    let id = add(&db, "w", None);
    assert!(db
        .write(5, |ctx| register(ctx, id, Some("http://a"), Some("{}"), Some("poll")))
        .unwrap());
    assert!(db
        .write(6, |ctx| register(ctx, id, None, Some("{\"name\":\"x\"}"), None))
        .unwrap());
    let w = db.read(|c| get(c, id)).unwrap().unwrap();
    assert_eq!(w.agent.url.as_deref(), Some("http://a"));
    assert_eq!(w.agent.card.as_deref(), Some("{\"name\":\"x\"}"));
    assert_eq!(
        (w.agent.delivery_mode.as_deref(), w.agent.registered_at),
        (Some("poll"), Some(6))
    );
}
