use rusqlite::params;
use serde_json::json;

use super::*;
use crate::store::test_db;

fn append_n(db: &crate::store::Db, n: usize) {
    for i in 0..n {
        db.write(1000 + i as i64, |ctx| {
            append(
                ctx,
                &Actor::cli(),
                Action::WorkspaceCreate,
                Some("w"),
                json!({ "i": i }),
            )
        })
        .unwrap();
    }
}

fn check(db: &crate::store::Db, anchor: Option<&Anchor>) -> Verdict {
    let keys = db.audit_keys();
    db.read(|c| verify(c, &keys, anchor)).unwrap()
}

/// Rewrites entry `id`'s actor and rechains everything after it with the
/// hash an attacker can compute: plain blake3, or keyed with a key of
/// their own.
fn forge(db: &crate::store::Db, id: i64, key: Option<[u8; 32]>) {
    db.write(0, |ctx| {
        ctx.execute("UPDATE audit_log SET actor = 'someone else' WHERE id = ?1", [id])?;
        let mut prev: [u8; 32] = match id {
            1 => GENESIS,
            _ => ctx.query_row("SELECT hash FROM audit_log WHERE id = ?1", [id - 1], |r| r.get(0))?,
        };
        let ids: Vec<i64> = ctx
            .prepare("SELECT id FROM audit_log WHERE id >= ?1 ORDER BY id")?
            .query_map([id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for i in ids {
            let row = ctx.query_row(
                "SELECT id, at, actor, action, target, detail, client FROM audit_log WHERE id = ?1",
                [i],
                audit_row,
            )?;
            let k = key.map(|k| (key_id(&k), k));
            let hash = entry_hash(k.as_ref().map(|(id, k)| (id.as_str(), k)), &prev, &row);
            let kid = k.map(|(id, _)| id);
            ctx.execute(
                "UPDATE audit_log SET prev_hash = ?2, hash = ?3, key_id = coalesce(?4, key_id) WHERE id = ?1",
                params![i, prev, hash, kid],
            )?;
            prev = hash;
        }
        Ok(())
    })
    .unwrap();
}

#[test]
fn an_intact_keyed_trail_verifies_and_names_its_head() {
    let (_d, db) = test_db();
    append_n(&db, 5);
    let Verdict::Intact { entries, head } = check(&db, None) else {
        panic!("broken")
    };
    assert_eq!(entries, 5);
    assert_eq!(head.map(|h| h.0), Some(5));
    let anchor = Anchor {
        seq: 5,
        hash: head.unwrap().1,
        keyed_from: Some(1),
    };
    assert!(matches!(check(&db, Some(&anchor)), Verdict::Intact { .. }));
}

#[test]
fn an_entry_edited_and_rechained_without_the_key_is_found() {
    for key in [None, Some([9u8; 32])] {
        let (_d, db) = test_db();
        append_n(&db, 6);
        forge(&db, 3, key);
        let v = check(&db, None);
        assert!(matches!(v, Verdict::Broken { id: 3, .. }), "{v:?}");
    }
}

#[test]
fn a_trail_rewritten_as_unkeyed_is_found() {
    let (_d, db) = test_db();
    append_n(&db, 4);
    db.write(0, |ctx| Ok(ctx.execute("UPDATE audit_log SET key_id = NULL", [])?))
        .unwrap();
    forge(&db, 1, None);
    assert!(matches!(check(&db, None), Verdict::Broken { id: 1, .. }));
}

#[test]
fn a_trail_cut_short_is_found_against_the_anchor() {
    let (_d, db) = test_db();
    append_n(&db, 5);
    let (seq, hash) = db.read(head).unwrap().unwrap();
    let anchor = Anchor {
        seq,
        hash,
        keyed_from: Some(1),
    };
    db.write(0, |ctx| Ok(ctx.execute("DELETE FROM audit_log WHERE id > 3", [])?))
        .unwrap();
    assert_eq!(
        check(&db, Some(&anchor)),
        Verdict::Broken {
            id: 4,
            reason: "the trail ends at #3, but the anchor witnessed #5".into()
        }
    );
    // Written on since, reusing the numbers: the anchored entry differs.
    append_n(&db, 3);
    assert!(matches!(check(&db, Some(&anchor)), Verdict::Broken { id: 5, .. }));
    // Everything dropped.
    db.write(0, |ctx| Ok(ctx.execute("DELETE FROM audit_log", [])?))
        .unwrap();
    assert!(matches!(check(&db, Some(&anchor)), Verdict::Broken { id: 1, .. }));
}

#[test]
fn entries_removed_inserted_or_sealed_with_an_unknown_key_are_found() {
    let (_d, db) = test_db();
    append_n(&db, 5);
    db.write(0, |ctx| Ok(ctx.execute("DELETE FROM audit_log WHERE id = 2", [])?))
        .unwrap();
    assert!(matches!(check(&db, None), Verdict::Broken { id: 2, .. }));
    let (_d, db) = test_db();
    append_n(&db, 3);
    db.write(0, |ctx| {
        Ok(ctx.execute("UPDATE audit_log SET key_id = 'feedfeedfeed' WHERE id = 2", [])?)
    })
    .unwrap();
    match check(&db, None) {
        Verdict::Broken { id: 2, reason } => assert!(reason.contains("does not hold"), "{reason}"),
        v => panic!("{v:?}"),
    }
}
