//! `pacer loadtest`: many logical activities over few sockets.

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct LoadtestArgs {
    /// The server under test.
    #[arg(long, default_value = "http://localhost:8080")]
    pub url: String,
}

pub async fn run(_args: LoadtestArgs) -> Result<(), Box<dyn std::error::Error>> {
    Err("not built yet".into())
}
