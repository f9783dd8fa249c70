//! The binary as a newcomer runs it: flags after the subcommand, one log
//! line with the URL to open, and no colour codes in a log that is not a
//! terminal.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::eventually;

#[actix_web::test]
async fn serve_logs_the_url_without_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = dir.path().join("server.log");
    let out = std::fs::File::create(&log).unwrap();
    let err = out.try_clone().unwrap();
    // The flag after the subcommand; stdout and stderr a file, not a tty.
    let mut child = Command::new(env!("CARGO_BIN_EXE_pacer"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .current_dir(dir.path())
        .env_remove("PACER_BIND")
        .env_remove("PACER_LOG")
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    eventually(Duration::from_secs(60), "the server to start", || async {
        client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success())
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();
    let mut text = String::new();
    std::fs::File::open(&log)
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert!(
        text.contains(&format!("open http://127.0.0.1:{port}/")),
        "{text}"
    );
    assert!(!text.contains('\u{1b}'), "colour codes in a file: {text:?}");
}
