use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use clap::parser::ValueSource;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use pacer::config::{Cli, Command, Config};
use pacer::startup::Application;

/// The listen address in demo mode when none is given: loopback only,
/// because the demo account's password is `demo`.
const DEMO_BIND: &str = "127.0.0.1:8080";

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    let (cli, matches) = match Cli::parse_args() {
        Ok(parsed) => parsed,
        Err(e) => e.exit(),
    };
    let mut config = cli.config;
    if config.demo && matches.value_source("bind") == Some(ValueSource::DefaultValue) {
        config.bind = DEMO_BIND.to_string();
    }
    pacer::telemetry::init(&config.log);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Simulate { .. } => Err(moved("simulate").into()),
        Command::Loadtest { .. } => Err(moved("loadtest").into()),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "pacer stopped");
            eprintln!("pacer: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The tools left the server binary; say where they went.
fn moved(tool: &str) -> String {
    format!(
        "`pacer {tool}` is now `pacer-tools {tool}`: run `cargo run --release -p pacer-tools -- {tool} …` \
         (or target/release/pacer-tools {tool} …); `pacer-tools {tool} --help` lists its flags"
    )
}

async fn serve(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    let app = Application::build(config).await?;
    let addr = app.local_addr();
    tracing::info!("open {} (listening on {addr})", open_url(addr));
    app.run_until_stopped().await?;
    Ok(())
}

/// The URL to open on this machine: a wildcard bind is reached on loopback.
fn open_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/", SocketAddr::new(ip, addr.port()))
}
