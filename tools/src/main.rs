use clap::{Parser, Subcommand};

/// Pacer's tools: they drive a running Pacer server over HTTP.
#[derive(Debug, Parser)]
#[command(name = "pacer-tools", version)]
struct Cli {
    #[command(subcommand)]
    command: Tool,
    /// Log filter (tracing's EnvFilter syntax), e.g. `info,pacer_tools=debug`.
    #[arg(long, env = "PACER_LOG", default_value = "info", global = true)]
    log: String,
}

#[derive(Debug, Subcommand)]
enum Tool {
    /// Demo: the `demo` athlete (password `demo`) and simulated friends who
    /// run and ride in real time on a server started with PACER_DEMO=1.
    #[command(long_about = pacer_tools::simulate::HELP)]
    Simulate(pacer_tools::simulate::SimulateArgs),
    /// Load generator: many live activities posting fixes, with SSE
    /// watchers; needs the server's PACER_ADMIN_TOKEN.
    Loadtest(pacer_tools::loadtest::LoadtestArgs),
    /// Club weekly leaderboard of millions of members: reads under updates
    /// and memory per member, in process and on Redis.
    ClubsBench(pacer_tools::clubs_bench::ClubsBenchArgs),
    /// Global leaderboards: 1M athletes in process, and completion → visible through a server.
    LeaderboardBench(pacer_tools::leaderboard_bench::LeaderboardBenchArgs),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    pacer::telemetry::init(&cli.log);
    let (name, result) = match cli.command {
        Tool::Simulate(args) => ("simulate", pacer_tools::simulate::run(args).await),
        Tool::Loadtest(args) => ("loadtest", pacer_tools::loadtest::run(args).await),
        Tool::ClubsBench(args) => ("clubs-bench", pacer_tools::clubs_bench::run(args).await),
        Tool::LeaderboardBench(a) => (
            "leaderboard-bench",
            pacer_tools::leaderboard_bench::run(a).await,
        ),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pacer-tools {name}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
