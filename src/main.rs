use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use pacer::config::{Cli, Command};
use pacer::startup::Application;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    pacer::telemetry::init(&cli.config.log);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cli.config).await,
        Command::Simulate(args) => pacer::tools::simulate::run(cli.config, args).await,
        Command::Loadtest(args) => pacer::tools::loadtest::run(args).await,
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

async fn serve(config: pacer::config::Config) -> Result<(), Box<dyn std::error::Error>> {
    let app = Application::build(config).await?;
    app.run_until_stopped().await?;
    Ok(())
}
