//! `jules-bridge serve`, `migrate` and `deliveries`: running and operating the server.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::exit;
use crate::server::config::{ServeArgs, DEFAULT_DATABASE_URL};
use crate::store::{self, DeliveryStatus};

pub async fn serve(args: ServeArgs) -> ExitCode {
    let config = match args.validate() {
        Ok(config) => config,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let listen = config.listen;
    let state = match crate::server::build_state(config).await {
        Ok(state) => state,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("error: cannot listen on {listen}: {error}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    match crate::server::serve(state, listener, crate::server::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(exit::FAILURE)
        }
    }
}

#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// `sqlite:FILE` or `postgres://...`.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    database_url: String,
}

pub async fn migrate(args: DatabaseArgs) -> ExitCode {
    let result = async {
        let store = store::open(&args.database_url).await?;
        store.migrate().await
    }
    .await;
    match result {
        Ok(()) => {
            println!("migrations applied");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(exit::FAILURE)
        }
    }
}

#[derive(Debug, Args)]
pub struct DeliveriesArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    #[command(subcommand)]
    command: DeliveriesCmd,
}

#[derive(Debug, Subcommand)]
enum DeliveriesCmd {
    /// Newest first.
    List {
        /// pending, processing, done, ignored, dead or dropped.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// One delivery with its error and body.
    Show {
        /// Numeric id or X-GitHub-Delivery GUID.
        id: String,
    },
    /// Process a delivery again (for example a dead-lettered one).
    Retry { id: String },
}

pub async fn deliveries(args: DeliveriesArgs) -> ExitCode {
    let store = match store::open(&args.database.database_url).await {
        Ok(store) => store,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let result: Result<ExitCode, store::StoreError> = async {
        match args.command {
            DeliveriesCmd::List { status, limit } => {
                let status = match status.as_deref().map(DeliveryStatus::parse) {
                    Some(None) => {
                        eprintln!("error: unknown status; use pending, processing, done, ignored, dead or dropped");
                        return Ok(ExitCode::from(exit::USAGE));
                    }
                    Some(status) => status,
                    None => None,
                };
                for d in store.list_deliveries(status, limit).await? {
                    println!(
                        "{:<6} {:<10} {:<3} {:<36} {:<28} {}",
                        d.id,
                        d.status.as_str(),
                        d.attempts,
                        d.delivery_id,
                        format!("{}{}", d.event, d.action.map(|a| format!(".{a}")).unwrap_or_default()),
                        d.last_error.or(d.note).unwrap_or_default().lines().next().unwrap_or("")
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
            DeliveriesCmd::Show { id } => match store.get_delivery(&id).await? {
                Some(d) => {
                    println!("id            {}\ndelivery      {}\nhook          {}\nevent         {}{}\nstatus        {}\nattempts      {}\nrepository    {}\nissue         {}\nreceived      {}\nupdated       {}\nnext attempt  {}",
                        d.id, d.delivery_id, d.hook_id, d.event, d.action.as_deref().map(|a| format!(".{a}")).unwrap_or_default(),
                        d.status.as_str(), d.attempts, d.repo.as_deref().unwrap_or("-"), d.issue_key.as_deref().unwrap_or("-"),
                        d.received_at.to_rfc3339(), d.updated_at.to_rfc3339(), d.next_attempt_at.to_rfc3339());
                    if let Some(note) = &d.note {
                        println!("note          {note}");
                    }
                    if let Some(error) = &d.last_error {
                        println!("last error    {error}");
                    }
                    println!("body          {} bytes", d.body.len());
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    eprintln!("error: no delivery {id}");
                    Ok(ExitCode::from(exit::FAILURE))
                }
            },
            DeliveriesCmd::Retry { id } => {
                let Some(delivery) = store.get_delivery(&id).await? else {
                    eprintln!("error: no delivery {id}");
                    return Ok(ExitCode::from(exit::FAILURE));
                };
                if store.retry_delivery(delivery.id).await? {
                    println!("delivery {} queued again", delivery.id);
                    Ok(ExitCode::SUCCESS)
                } else {
                    eprintln!("error: delivery {} is being processed; try again later", delivery.id);
                    Ok(ExitCode::from(exit::FAILURE))
                }
            }
        }
    }
    .await;
    result.unwrap_or_else(|error| {
        eprintln!("error: {error}");
        ExitCode::from(exit::FAILURE)
    })
}
