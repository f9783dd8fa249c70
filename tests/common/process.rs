//! The real binary as a child process: started on a database, ready once
//! `/readyz` answers, stopped with SIGKILL (a crash) or SIGTERM.

use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::eventually;

/// How long the binary gets to answer `/readyz`.
const START_WAIT: Duration = Duration::from_secs(30);

pub struct ServerProcess {
    child: Child,
    pub base: String,
}

impl ServerProcess {
    pub async fn start(database_url: &str) -> ServerProcess {
        ServerProcess::start_with(database_url, &[]).await
    }

    /// With these variables set. NATS and Redis are off unless given
    /// here (the test's own environment does not leak into the server).
    pub async fn start_with(database_url: &str, env: &[(&str, String)]) -> ServerProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // `option_env!`: this file is also compiled into other packages' tests.
        let Some(bin) = option_env!("CARGO_BIN_EXE_pacer") else {
            panic!("the pacer binary is known to pacer's own tests only");
        };
        let mut command = Command::new(bin);
        command
            .env("DATABASE_URL", database_url)
            .env("PACER_BIND", format!("127.0.0.1:{port}"))
            .env("PACER_LOG", "warn")
            .env_remove("PACER_NATS_URL")
            .env_remove("PACER_REDIS_URL")
            .stdout(Stdio::null());
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command.spawn().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        eventually(START_WAIT, "the server to start", || async {
            client
                .get(format!("{base}/readyz"))
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success())
        })
        .await;
        ServerProcess { child, base }
    }

    /// A crash: SIGKILL, then reaps the process.
    pub fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then waits for the exit.
    pub fn terminate(self) -> ExitStatus {
        self.send_term();
        self.wait_exit()
    }

    pub fn send_term(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit (a minute at most: then it hangs).
    pub fn wait_exit(mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit within a minute of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
