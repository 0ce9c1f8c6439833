//! Attachment storage: an attachment is claimed by one object only, the unattached list
//! answers what the sweeper may remove, blob reference counts reach zero exactly when the
//! last reference goes, and usage moves by the bytes given.

use agora_engine::{AttachmentId, AttachmentKind, ConversationId, FileType, MessageId, UploadId, UserId};
use time::macros::datetime;
use time::Duration;

use crate::attachments::{AttachedTo, Attachment, Upload};
use crate::Store;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sqlite(dir.path().join("agora.db"), 2).expect("open");
    (dir, store)
}

fn attachment(owner: UserId, at: time::OffsetDateTime) -> Attachment {
    Attachment {
        id: AttachmentId::from_uuid(uuid::Uuid::now_v7()),
        owner,
        kind: AttachmentKind::Document,
        file_type: FileType::Pdf,
        name: "a.pdf".into(),
        size: 10,
        content_type: "application/pdf".into(),
        blob: "ab".repeat(32),
        upload_sha256: "ab".repeat(32),
        upload_size: 10,
        width: None,
        height: None,
        duration_ms: None,
        peaks: None,
        pages: Some(1),
        thumbnails: Vec::new(),
        created_at: at,
        attached_to: None,
        released_at: None,
    }
}

#[tokio::test]
async fn attach_once_and_unattached_listing() {
    let (_dir, store) = store();
    let s = store.attachments();
    let (owner, other) = (UserId::from_uuid(uuid::Uuid::now_v7()), UserId::from_uuid(uuid::Uuid::now_v7()));
    let t0 = datetime!(2027-01-01 10:00 UTC);
    let (old, young) = (attachment(owner, t0), attachment(owner, t0 + Duration::hours(2)));
    s.create(&old).await.expect("create");
    s.create(&young).await.expect("create");
    assert_eq!(s.unattached_before(t0 + Duration::hours(1), 10).await.expect("list"), vec![old.id]);
    assert_eq!(s.unattached_before(t0 + Duration::hours(3), 10).await.expect("list"), vec![old.id, young.id]);
    let target = AttachedTo::Message {
        conversation_id: ConversationId::from_uuid(uuid::Uuid::now_v7()),
        message_id: MessageId::from_uuid(uuid::Uuid::now_v7()),
    };
    assert!(s.attach(old.id, other, target).await.expect("attach").is_none(), "not the owner's: refused");
    let claimed = s.attach(old.id, owner, target).await.expect("attach").expect("claimed");
    assert_eq!(claimed.attached_to, Some(target));
    assert!(s.attach(old.id, owner, target).await.expect("again").is_some(), "the same target again is a no-op");
    let elsewhere = AttachedTo::Message {
        conversation_id: ConversationId::from_uuid(uuid::Uuid::now_v7()),
        message_id: MessageId::from_uuid(uuid::Uuid::now_v7()),
    };
    assert!(matches!(s.attach(old.id, owner, elsewhere).await, Err(crate::StoreError::Duplicate(_))));
    assert_eq!(s.unattached_before(t0 + Duration::hours(3), 10).await.expect("list"), vec![young.id]);
    s.delete(&young).await.expect("delete");
    assert!(s.get(young.id).await.expect("get").is_none());
    assert!(s.unattached_before(t0 + Duration::hours(3), 10).await.expect("list").is_empty());
}

#[tokio::test]
async fn blob_refs_usage_and_upload_expiry() {
    let (_dir, store) = store();
    let s = store.attachments();
    let blob = "cd".repeat(32);
    assert_eq!(s.add_blob_ref(&blob, 100, 1).await.expect("ref"), 1);
    assert_eq!(s.add_blob_ref(&blob, 100, 1).await.expect("ref"), 2);
    assert_eq!(s.add_blob_ref(&blob, 100, -1).await.expect("unref"), 1);
    assert_eq!(s.add_blob_ref(&blob, 100, -1).await.expect("unref"), 0);
    assert_eq!(s.blob_refs(&blob).await.expect("refs"), 0);
    assert_eq!(s.add_blob_ref(&blob, 100, 1).await.expect("ref again"), 1, "a freed blob can be referenced anew");
    let user = UserId::from_uuid(uuid::Uuid::now_v7());
    assert_eq!(s.usage(user).await.expect("usage"), 0);
    assert_eq!(s.add_usage(user, 500).await.expect("add"), 500);
    assert_eq!(s.add_usage(user, -200).await.expect("sub"), 300);
    assert_eq!(s.add_usage(user, -1000).await.expect("floor"), 0);
    let now = time::OffsetDateTime::now_utc();
    let up = Upload {
        id: UploadId::from_uuid(uuid::Uuid::now_v7()),
        owner: user,
        length: 5,
        name: "x".into(),
        metadata: None,
        created_at: now,
        expires_at: now + Duration::hours(24),
        attachment_id: None,
    };
    s.create_upload(&up, now).await.expect("upload");
    assert_eq!(s.upload(up.id).await.expect("get"), Some(up.clone()));
    assert!(s.uploads_expired(now + Duration::hours(23), 10).await.expect("expired").is_empty());
    let expired = s.uploads_expired(now + Duration::hours(25), 10).await.expect("expired");
    assert_eq!(expired.iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec![up.id]);
    let aid = AttachmentId::from_uuid(uuid::Uuid::now_v7());
    assert_eq!(s.complete_upload(up.id, aid).await.expect("complete").attachment_id, Some(aid));
    s.delete_upload(&up).await.expect("delete");
    assert!(s.upload(up.id).await.expect("get").is_none());
    assert!(s.uploads_expired(now + Duration::hours(25), 10).await.expect("expired").is_empty());
}
