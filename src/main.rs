//! The `order-tracker` command: `serve` (default), `migrate`, `user create`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use order_tracker::config::Settings;
use order_tracker::db::{migrate, users};
use order_tracker::domain::registration::RegisterRequest;
use order_tracker::domain::role::Role;
use order_tracker::startup::{connect_database, Application};
use order_tracker::{auth, telemetry};

#[derive(Parser)]
#[command(
    name = "order-tracker",
    version,
    about = "Real-time order tracking server"
)]
struct Cli {
    /// Settings file (default: ./config.toml if present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage users.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Create a user with any role: how the first admin and the drivers come to exist.
    Create {
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        username: Option<String>,
        #[arg(long)]
        password: String,
        #[arg(long, default_value = "user", value_parser = ["user", "driver", "admin"])]
        role: String,
        #[arg(long)]
        name: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("order-tracker: {e}");
            return ExitCode::FAILURE;
        }
    };
    telemetry::init(&settings.log);
    let result =
        actix_web::rt::System::new().block_on(run(cli.command.unwrap_or(Command::Serve), settings));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("order-tracker: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, settings: Settings) -> Result<(), String> {
    match command {
        Command::Serve => {
            let app = Application::build(settings)
                .await
                .map_err(|e| e.to_string())?;
            app.run_until_signal().await.map_err(|e| e.to_string())
        }
        Command::Migrate => {
            let (config, _embedded) = connect_database(&settings)
                .await
                .map_err(|e| e.to_string())?;
            let applied = migrate::run(&config).await.map_err(|e| e.to_string())?;
            println!("migrations applied: {applied}");
            Ok(())
        }
        Command::User {
            action:
                UserAction::Create {
                    email,
                    username,
                    password,
                    role,
                    name,
                },
        } => {
            let new_user = RegisterRequest {
                name,
                email,
                username,
                password: Some(password),
                locale: None,
            }
            .parse()
            .map_err(|errors| {
                format!(
                    "invalid user: {}",
                    serde_json::to_string(&errors).unwrap_or_default()
                )
            })?;
            let role = Role::parse(&role).ok_or("role must be user, driver or admin")?;
            let (config, _embedded) = connect_database(&settings)
                .await
                .map_err(|e| e.to_string())?;
            migrate::run(&config).await.map_err(|e| e.to_string())?;
            let pool = order_tracker::db::pool(config, 1, actix::Arbiter::current());
            let hash = auth::password::hash(new_user.password.clone(), settings.auth.bcrypt_cost)
                .await
                .map_err(|e| e.to_string())?;
            let user = users::insert(&pool, &new_user, &hash, role)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "created {} user {} (id {})",
                role.as_str(),
                user.name,
                user.id
            );
            Ok(())
        }
    }
}
