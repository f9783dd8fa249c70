//! `pacer simulate`: a demo athlete and friends streaming runs and rides.

use clap::Args;

use crate::config::Config;

#[derive(Debug, Clone, Args)]
pub struct SimulateArgs {
    /// The server to stream to.
    #[arg(long, default_value = "http://localhost:8080")]
    pub url: String,
}

pub async fn run(_config: Config, _args: SimulateArgs) -> Result<(), Box<dyn std::error::Error>> {
    Err("not built yet".into())
}
