//! `coupon-book-bench codes`: bulk code work against the release server, each beside a
//! baseline measured in the same run:
//! - generate 1,000,000 `SUMMER-####-####` codes (job to `succeeded`) vs a bare SQLite
//!   insert of 1,000,000 rows of the same size, and vs the npm package
//!   `voucher-code-generator` generating the same codes in memory only (when node/npm
//!   are present);
//! - upload a 1,000,000-line CSV vs `sqlite3 .import` of the same file into a table with
//!   the same primary key (when the sqlite3 shell is present);
//! - export 1,000,000 codes.
//!
//! Server peak RSS is read from /proc (VmHWM) of a server started for that phase alone.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{Value, json};

use super::{Conn, Server, start_server_on};

const CODES: u64 = 1_000_000;
const UNAMBIGUOUS: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

pub(crate) fn peak_rss_mb(server: &Server) -> f64 {
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

pub(crate) async fn wait_job(conn: &mut Conn, job: &Value) -> Value {
    let id = job["id"].as_str().unwrap_or_default().to_string();
    let mut job = job.clone();
    while job["status"] == "running" {
        tokio::time::sleep(Duration::from_millis(20)).await;
        job = conn.send("GET", &format!("/v1/jobs/{id}"), None).await.1;
    }
    assert_eq!(job["status"], "succeeded", "job: {job}");
    job
}

pub(crate) async fn new_book(conn: &mut Conn) -> String {
    let (status, book) = conn
        .send(
            "POST",
            "/v1/books",
            Some(&json!({"name": "bulk", "status": "active"})),
        )
        .await;
    assert_eq!(status, 201, "{book}");
    book["id"].as_str().unwrap_or_default().to_string()
}

fn summer_code(rng: &mut impl Rng) -> String {
    let mut code = String::from("SUMMER-");
    for i in 0..8 {
        if i == 4 {
            code.push('-');
        }
        code.push(UNAMBIGUOUS[rng.random_range(0..UNAMBIGUOUS.len())] as char);
    }
    code
}

/// 1,000,000 random codes of the same shape inserted into a bare table, one
/// transaction, same durability settings as the store.
fn bare_sqlite_insert(dir: &Path) -> Duration {
    let conn = rusqlite::Connection::open(dir.join("bare.db")).expect("open");
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
         CREATE TABLE codes (code TEXT PRIMARY KEY) WITHOUT ROWID;",
    )
    .expect("schema");
    let mut rng = rand::rng();
    let started = Instant::now();
    conn.execute_batch("BEGIN").expect("begin");
    {
        let mut insert = conn
            .prepare("INSERT OR IGNORE INTO codes (code) VALUES (?1)")
            .expect("prepare");
        for _ in 0..CODES {
            insert.execute([summer_code(&mut rng)]).expect("insert");
        }
    }
    conn.execute_batch("COMMIT").expect("commit");
    started.elapsed()
}

/// The npm package generating the same codes in memory; (seconds, RSS MB) as the
/// script reports them.
fn npm_voucher_generator(dir: &Path) -> Option<(f64, f64)> {
    let npm_dir = dir.join("npm");
    std::fs::create_dir_all(&npm_dir).ok()?;
    let installed = Command::new("npm")
        .args([
            "install",
            "--silent",
            "--no-audit",
            "--no-fund",
            "voucher-code-generator@1",
        ])
        .current_dir(&npm_dir)
        .status()
        .ok()?
        .success();
    if !installed {
        return None;
    }
    let script = r#"
const vcg = require('voucher-code-generator');
const t = process.hrtime.bigint();
const codes = vcg.generate({ pattern: 'SUMMER-####-####', count: 1000000,
  charset: '23456789ABCDEFGHJKLMNPQRSTUVWXYZ' });
const s = Number(process.hrtime.bigint() - t) / 1e9;
console.log(JSON.stringify({ seconds: s, rss_mb: process.memoryUsage().rss / 1048576, n: codes.length }));
"#;
    let out = Command::new("node")
        .args(["-e", script])
        .current_dir(&npm_dir)
        .output()
        .ok()?;
    let report: Value = serde_json::from_slice(&out.stdout).ok()?;
    Some((report["seconds"].as_f64()?, report["rss_mb"].as_f64()?))
}

/// `sqlite3 .import` of the CSV into a table keyed by code (header skipped).
fn sqlite3_import(dir: &Path, csv: &Path) -> Option<Duration> {
    let db = dir.join("import.db");
    let script = format!(
        "PRAGMA journal_mode=WAL;\nPRAGMA synchronous=FULL;\nCREATE TABLE codes (code TEXT PRIMARY KEY) WITHOUT ROWID;\n.mode csv\n.import --skip 1 {} codes\n",
        csv.display()
    );
    let started = Instant::now();
    let out = Command::new("sqlite3")
        .arg(&db)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            if let Some(stdin) = child.stdin.as_mut() {
                stdin.write_all(script.as_bytes())?;
            }
            child.wait()
        })
        .ok()?;
    out.success().then(|| started.elapsed())
}

pub async fn run() {
    let dir = tempfile::tempdir().expect("temp dir");
    println!("coupon-book bulk code bench: {CODES} codes, release server, synchronous=FULL");

    // Generation.
    let gen_db = dir.path().join("generate.db");
    let server = start_server_on(&gen_db);
    let mut conn = Conn::open(&server.addr).await;
    let book = new_book(&mut conn).await;
    let started = Instant::now();
    let (status, job) = conn
        .send(
            "POST",
            &format!("/v1/books/{book}/codes/generate"),
            Some(&json!({"count": CODES, "pattern": "SUMMER-####-####"})),
        )
        .await;
    assert!(status == 201 || status == 202, "{job}");
    let job = wait_job(&mut conn, &job).await;
    let generate = started.elapsed();
    assert_eq!(job["inserted"], CODES);
    let generate_rss = peak_rss_mb(&server);
    drop(conn);
    drop(server);
    let bare = bare_sqlite_insert(dir.path());
    println!(
        "generate + store 1M (HTTP job)      {:>7.2} s   server peak RSS {:>6.1} MB",
        generate.as_secs_f64(),
        generate_rss
    );
    println!(
        "bare SQLite insert 1M rows          {:>7.2} s",
        bare.as_secs_f64()
    );
    println!(
        "ratio generate / bare insert:       {:.2}",
        generate.as_secs_f64() / bare.as_secs_f64()
    );
    match npm_voucher_generator(dir.path()) {
        Some((seconds, rss)) => {
            println!(
                "npm voucher-code-generator 1M      {seconds:>7.2} s   RSS {rss:>6.1} MB (memory only)"
            );
            println!(
                "ratio generate / npm:              {:.2}",
                generate.as_secs_f64() / seconds
            );
        }
        None => println!(
            "npm voucher-code-generator: not measured (node/npm missing or install failed)"
        ),
    }

    // Export, on a fresh process over the generated store.
    let server = start_server_on(&gen_db);
    let mut conn = Conn::open(&server.addr).await;
    let started = Instant::now();
    let (status, _) = conn
        .send("GET", &format!("/v1/books/{book}/codes/export"), None)
        .await;
    let export = started.elapsed();
    assert_eq!(status, 200);
    println!(
        "export 1M as CSV                    {:>7.2} s   server peak RSS {:>6.1} MB",
        export.as_secs_f64(),
        peak_rss_mb(&server)
    );
    drop(conn);
    drop(server);

    // Upload.
    let csv = dir.path().join("upload.csv");
    {
        use std::io::Write;
        let mut file = std::io::BufWriter::new(std::fs::File::create(&csv).expect("csv"));
        let mut rng = rand::rng();
        writeln!(file, "code").expect("write");
        let mut seen = std::collections::HashSet::new();
        while seen.len() < CODES as usize {
            let code = summer_code(&mut rng);
            if seen.insert(code.clone()) {
                writeln!(file, "{code}").expect("write");
            }
        }
    }
    let server = start_server_on(&dir.path().join("upload.db"));
    let mut conn = Conn::open(&server.addr).await;
    let book = new_book(&mut conn).await;
    let body = std::fs::read(&csv).expect("read csv");
    let started = Instant::now();
    let (status, job) = conn
        .send_bytes(
            "POST",
            &format!("/v1/books/{book}/codes/upload"),
            "text/csv",
            body,
        )
        .await;
    assert!(status == 201 || status == 202, "{job}");
    let job = wait_job(&mut conn, &job).await;
    let upload = started.elapsed();
    assert_eq!(job["inserted"], CODES);
    println!(
        "upload 1M-line CSV (HTTP job)       {:>7.2} s   server peak RSS {:>6.1} MB",
        upload.as_secs_f64(),
        peak_rss_mb(&server)
    );
    drop(conn);
    drop(server);
    match sqlite3_import(dir.path(), &csv) {
        Some(import) => {
            println!(
                "sqlite3 .import same file           {:>7.2} s",
                import.as_secs_f64()
            );
            println!(
                "ratio upload / sqlite3 .import:     {:.2}",
                upload.as_secs_f64() / import.as_secs_f64()
            );
        }
        None => println!("sqlite3 .import: not measured (sqlite3 shell missing)"),
    }
}
