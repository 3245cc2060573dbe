//! The `order-tracker` command: `serve` (default), `migrate`, and `user` management.
//!
//! Passwords are never required on the command line (where `ps` and shell history would keep
//! them): without `--password`, the command asks for one at a terminal, or reads one line from
//! standard input when it is piped. Every command that touches the database says which one.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use order_tracker::config::Settings;
use order_tracker::db::{migrate, users};
use order_tracker::domain::registration::{check_password, RegisterRequest};
use order_tracker::domain::role::Role;
use order_tracker::startup::{connect_database, describe_database, Application};
use order_tracker::{auth, telemetry};

#[derive(Parser)]
#[command(
    name = "order-tracker",
    version,
    about = "Real-time order tracking server"
)]
struct Cli {
    /// Settings file (default: ./config.toml if present). A relative `database.data_dir` is
    /// taken from the folder of this file.
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
    /// Manage users: how the first admin and the drivers come to exist.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Create a user with any role.
    Create {
        /// Login e-mail (an e-mail, a username, or both, are required).
        #[arg(long)]
        email: Option<String>,
        /// Login username.
        #[arg(long)]
        username: Option<String>,
        /// The password; asked for (or read from standard input) when left out.
        #[arg(long)]
        password: Option<String>,
        /// The user's role.
        #[arg(long, default_value = "user", value_parser = ["user", "driver", "admin"])]
        role: String,
        /// Display name (default: the username or the e-mail's local part).
        #[arg(long)]
        name: Option<String>,
    },
    /// List every user: id, role, name, e-mail, username.
    List,
    /// Give a user another role; their open sessions end.
    SetRole {
        /// The user's id (see `user list`).
        id: i64,
        /// The new role.
        #[arg(value_parser = ["user", "driver", "admin"])]
        role: String,
    },
    /// Set a new password for a user; their open sessions end.
    ResetPassword {
        /// The user's id (see `user list`).
        id: i64,
        /// The new password; asked for (or read from standard input) when left out.
        #[arg(long)]
        password: Option<String>,
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
            let (config, embedded) = connect_database(&settings)
                .await
                .map_err(|e| e.to_string())?;
            let applied = migrate::run(&config).await.map_err(|e| e.to_string())?;
            let database = describe_database(&config, embedded.as_ref());
            println!("migrations applied to {database}: {applied}");
            Ok(())
        }
        Command::User { action } => manage_users(action, settings).await,
    }
}

async fn manage_users(action: UserAction, settings: Settings) -> Result<(), String> {
    // Parse everything first: a mistake should not wait for a database to start.
    let password = match &action {
        UserAction::Create { password, .. } | UserAction::ResetPassword { password, .. } => {
            let password = match password {
                Some(p) => p.clone(),
                None => read_password()?,
            };
            check_password(&password).map_err(|e| format!("invalid password: {e}"))?;
            Some(password)
        }
        UserAction::List | UserAction::SetRole { .. } => None,
    };
    let (config, embedded) = connect_database(&settings)
        .await
        .map_err(|e| e.to_string())?;
    migrate::run(&config).await.map_err(|e| e.to_string())?;
    let database = describe_database(&config, embedded.as_ref());
    if embedded.as_ref().is_some_and(|e| e.fresh()) {
        eprintln!(
            "order-tracker: note: {database} did not exist and was created empty. If you meant \
             the server's database, run this from the folder of its config.toml or pass --config."
        );
    }
    let pool = order_tracker::db::pool(config, 1, actix::Arbiter::current());
    let hash = |password: String| auth::password::hash(password, settings.auth.bcrypt_cost);
    match action {
        UserAction::Create {
            email,
            username,
            role,
            name,
            ..
        } => {
            let password = password.expect("read above");
            let new_user = RegisterRequest {
                name,
                email,
                username,
                password: Some(password.clone()),
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
            let hash = hash(password).await.map_err(|e| e.to_string())?;
            let user = users::insert(&pool, &new_user, &hash, role)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "created {} user {} (id {}) in {database}",
                role.as_str(),
                user.name,
                user.id
            );
        }
        UserAction::List => {
            let all = users::list(&pool, None).await.map_err(|e| e.to_string())?;
            println!("{} users in {database}", all.len());
            println!(
                "{:>6}  {:<6}  {:<24}  {:<32}  username",
                "id", "role", "name", "email"
            );
            for u in all {
                println!(
                    "{:>6}  {:<6}  {:<24}  {:<32}  {}",
                    u.id,
                    u.role.as_str(),
                    u.name,
                    u.email.as_deref().unwrap_or("-"),
                    u.username.as_deref().unwrap_or("-")
                );
            }
        }
        UserAction::SetRole { id, role } => {
            let role = Role::parse(&role).ok_or("role must be user, driver or admin")?;
            let user = users::set_role(&pool, id, role)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no user with id {id} in {database}"))?;
            println!(
                "user {} (id {}) is now {} in {database}",
                user.name,
                id,
                role.as_str()
            );
        }
        UserAction::ResetPassword { id, .. } => {
            let hash = hash(password.expect("read above"))
                .await
                .map_err(|e| e.to_string())?;
            let user = users::set_password(&pool, id, &hash)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no user with id {id} in {database}"))?;
            println!("password of {} (id {id}) reset in {database}", user.name);
        }
    }
    Ok(())
}

/// A password from the terminal (not echoed), or the first line of piped standard input.
fn read_password() -> Result<String, String> {
    if std::io::stdin().is_terminal() {
        return rpassword::prompt_password("Password: ").map_err(|e| e.to_string());
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}
