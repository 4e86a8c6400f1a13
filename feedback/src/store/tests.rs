//! The store on a temporary SQLite file: insert, read back, filter, count,
//! and reopen (migrations are idempotent). The same store on Postgres is
//! exercised by the server's feedback suite.

use serde_json::json;

use super::*;
use crate::{Format, write_export};

fn flag(model: &str, option: &str, comment: Option<&str>) -> NewFlag {
    NewFlag {
        model: model.into(),
        version: "1.0.0".into(),
        endpoint: "classify".into(),
        inputs: json!({"text": "a, \"quoted\"\nline", "labels": ["x", "y"]}),
        outputs: json!({"label": {"label": "x", "confidences": []}}),
        option: option.into(),
        comment: comment.map(String::from),
        duration_ms: Some(12.5),
        user: None,
        attachments: Vec::new(),
    }
}

#[tokio::test]
async fn rows_are_stored_read_filtered_counted_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig::resolve(Some(dir.path()), None).unwrap();
    let store = Store::open(&config).await.unwrap();
    let first = store
        .insert(flag("a", "Incorrect", Some("wrong")))
        .await
        .unwrap();
    let second = store.insert(flag("b", "Other", None)).await.unwrap();
    store.insert(flag("a", "Incorrect", None)).await.unwrap();
    store.close().await;

    let store = Store::open(&config).await.unwrap();
    let all = store.list(&Filter::default()).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0], first, "read back exactly as stored, oldest first");
    assert_eq!(all[1], second);

    let newest = store
        .list(&Filter {
            newest: Some(1),
            ..Filter::default()
        })
        .await
        .unwrap();
    assert_eq!(newest, vec![all[2].clone()]);
    let of_a = store
        .list(&Filter {
            model: Some("a".into()),
            ..Filter::default()
        })
        .await
        .unwrap();
    assert_eq!(of_a.len(), 2);
    let future = store
        .list(&Filter {
            since: Some("2999-01-01".into()),
            ..Filter::default()
        })
        .await
        .unwrap();
    assert!(future.is_empty());
    let of_version = |version: &str| Filter {
        version: Some(version.into()),
        ..Filter::default()
    };
    let version = all[0].flag.version.clone();
    assert_eq!(store.list(&of_version(&version)).await.unwrap().len(), 3);
    assert!(store.list(&of_version("no-such")).await.unwrap().is_empty());
    assert!(store.counts(Some("2999-01-01")).await.unwrap().is_empty());

    let counts = store.counts(None).await.unwrap();
    let count = |model: &str, option: &str| {
        counts
            .iter()
            .find(|c| c.model == model && c.option == option)
            .map(|c| c.count)
    };
    assert_eq!(count("a", "Incorrect"), Some(2));
    assert_eq!(count("b", "Other"), Some(1));
    assert_eq!(counts.len(), 2);

    let mut csv = Vec::new();
    write_export(&all, Format::Csv, &mut csv).unwrap();
    let csv = String::from_utf8(csv).unwrap();
    let header = csv.lines().next().unwrap();
    assert_eq!(
        header,
        "labels,text,label,flag,username,timestamp,id,model,version,endpoint,comment,duration_ms"
    );
    assert!(csv.contains("\"a, \"\"quoted\"\"\nline\""), "{csv}");
    let mut jsonl = Vec::new();
    write_export(&all, Format::Jsonl, &mut jsonl).unwrap();
    let back: Vec<Flag> = String::from_utf8(jsonl)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(back, all);
}

#[tokio::test]
async fn a_flags_files_are_kept_once_by_content_beside_its_row() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig::resolve(Some(dir.path()), None).unwrap();
    let store = Store::open(&config).await.unwrap();
    let photo = FlagFile::new(wick_types::Media::new(
        "image/png",
        vec![137, 80, 78, 71, 1, 2],
    ));
    let with_photo = || NewFlag {
        inputs: json!({"image": photo.reference()}),
        attachments: vec![photo.clone()],
        ..flag("vision", "Incorrect", None)
    };
    let first = store.insert(with_photo()).await.unwrap();
    store.insert(with_photo()).await.unwrap();
    assert_eq!(first.files, vec![photo.name.clone()]);
    let rows = store.list(&Filter::default()).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0], first, "read back with its file names");
    assert_eq!(
        rows[0].flag.inputs["image"],
        format!("files/{}", photo.name)
    );
    let (media_type, bytes) = store.file(&photo.name).await.unwrap().unwrap();
    assert_eq!(
        (media_type.as_str(), bytes),
        ("image/png", photo.media.bytes.clone())
    );
    assert!(store.file("0000.png").await.unwrap().is_none());
    let names = store.file_names(&Filter::default()).await.unwrap();
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        vec![photo.name.clone()]
    );
    let none = Filter {
        model: Some("other".into()),
        ..Filter::default()
    };
    assert!(store.file_names(&none).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_streamed_export_reads_pages_and_equals_the_whole_export() {
    use futures_util::StreamExt;

    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig::resolve(Some(dir.path()), None).unwrap();
    let store = std::sync::Arc::new(Store::open(&config).await.unwrap());
    // More than a page (500), with a column that only the last flag has.
    for index in 0..1203 {
        let mut row = flag("m", "Other", Some(&format!("flag {index}")));
        if index == 1202 {
            row.inputs["extra"] = json!("late column");
        }
        store.insert(row).await.unwrap();
    }
    let all = store.list(&Filter::default()).await.unwrap();
    for format in [Format::Csv, Format::Jsonl] {
        let mut whole = Vec::new();
        write_export(&all, format, &mut whole).unwrap();
        let chunks: Vec<Vec<u8>> = crate::export_stream(store.clone(), Filter::default(), format)
            .map(|chunk| chunk.unwrap())
            .collect()
            .await;
        assert!(chunks.len() >= 3, "{format:?}: {} chunks", chunks.len());
        assert_eq!(chunks.concat(), whole, "{format:?}");
    }
    let csv = String::from_utf8(
        crate::export_stream(store.clone(), Filter::default(), Format::Csv)
            .map(|chunk| chunk.unwrap())
            .collect::<Vec<_>>()
            .await
            .concat(),
    )
    .unwrap();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .starts_with("labels,text,extra,"),
        "{csv:.200}"
    );
}

#[test]
fn configs_resolve_from_options() {
    let dir = Path::new("/tmp/somewhere");
    assert_eq!(
        StoreConfig::resolve(Some(dir), None).unwrap(),
        StoreConfig::Sqlite(dir.join("feedback.sqlite3"))
    );
    let url = "postgres://wick:secret@db:5432/wick";
    let config = StoreConfig::resolve(Some(dir), Some(url)).unwrap();
    assert_eq!(config, StoreConfig::Postgres(url.into()));
    assert_eq!(config.describe(), "postgres://wick:***@db:5432/wick");
    let refused = StoreConfig::resolve(None, Some("mysql://u:pw@h/db")).unwrap_err();
    assert!(
        refused.contains("postgres://") && !refused.contains("pw"),
        "{refused}"
    );
}
