//! Replays of a large upload while its job still runs: the replay answers the first
//! job and does not feed the file into it a second time.

use std::time::Duration;

use crate::common;
use crate::common::Server;
use serde_json::json;

#[tokio::test]
async fn replaying_a_running_upload_does_not_count_its_lines_twice() {
    let server = Server::start().await;
    let book = server.active_book(json!({})).await;
    // Over the inline limit (512 KiB), so the job runs after the answer (202).
    let lines = 60_000;
    let tag = common::unique_codes("RPL", 1)[0].clone();
    let file: String = (0..lines).map(|i| format!("{tag}-{i:06}\n")).collect();
    let path = format!("/v1/books/{book}/codes/upload");
    let mut ids = Vec::new();
    for _ in 0..2 {
        let req = server
            .request(common::ADMIN_KEY, "POST", &path)
            .header("content-type", "text/csv")
            .header("idempotency-key", "upload-replay-1")
            .body(file.clone());
        let reply = server.send(req).await;
        assert!(matches!(reply.status, 201 | 202), "{}", reply.text);
        ids.push(reply.json["id"].as_str().expect("job id").to_string());
    }
    assert_eq!(ids[0], ids[1], "the replay answers the first job");
    let mut job = json!(null);
    for _ in 0..600 {
        let (status, body) = server.get(&format!("/v1/jobs/{}", ids[0])).await;
        assert_eq!(status, 200, "{body}");
        job = body;
        if job["status"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["total"], lines, "{job}");
    assert_eq!(job["processed"], lines, "{job}");
    assert_eq!(job["inserted"], lines, "{job}");
    assert_eq!(job["duplicates_in_file"], 0, "{job}");
}
