//! sigma-api-register: the register and retire handlers as a command, for wiring tests.
//!
//!   sigma-api-register register NAME --address A --country C [--version V] [--vps-id ID] [--force]
//!   sigma-api-register retire NAME
//!
//! Reads AIRPORT_KUBECONFIG and AIRPORT_NAMESPACE (default airport-prod).
use anyhow::{Result, bail};
use sigma_api_register::{Registration, client_from_env, register_with, retire};

const USAGE: &str = "usage:\n  sigma-api-register register NAME --address A --country C [--version V] [--vps-id ID] [--force]\n  sigma-api-register retire NAME";

fn parse_register(args: &[String]) -> Result<(Registration, bool)> {
    let mut name = None;
    let mut force = false;
    let (mut address, mut country, mut version, mut vps_id) = (None, None, None, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| -> Result<String> {
            match it.next() {
                Some(v) => Ok(v.clone()),
                None => bail!("{flag} needs a value"),
            }
        };
        match a.as_str() {
            "--address" => address = Some(value(a)?),
            "--country" => country = Some(value(a)?),
            "--version" => version = Some(value(a)?),
            "--vps-id" => vps_id = Some(value(a)?),
            "--force" => force = true,
            s if s.starts_with("--") => bail!("unknown option {s}"),
            s if name.is_none() => name = Some(s.to_string()),
            s => bail!("unexpected argument {s}"),
        }
    }
    match (name, address, country) {
        (Some(name), Some(address), Some(country)) => Ok((Registration { name, address, country, version, vps_id }, force)),
        _ => bail!("register needs NAME, --address and --country"),
    }
}

async fn run(args: Vec<String>) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("register") => {
            let (reg, force) = parse_register(&args[1..])?;
            let (client, ns) = client_from_env().await?;
            let node = register_with(&client, &ns, &reg, force).await?;
            let rv = node.metadata.resource_version.unwrap_or_default();
            println!("registered XrayrNode {ns}/{} (resourceVersion {rv})", reg.name);
        }
        Some("retire") => {
            let [_, name] = args.as_slice() else { bail!("retire needs exactly one NAME") };
            let (client, ns) = client_from_env().await?;
            if retire(&client, &ns, name).await? {
                println!("retired XrayrNode {ns}/{name}");
            } else {
                println!("XrayrNode {ns}/{name} was already gone");
            }
        }
        _ => bail!("{USAGE}"),
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(args).await {
        eprintln!("sigma-api-register: {e:#}");
        std::process::exit(1);
    }
}
