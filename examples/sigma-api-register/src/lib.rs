//! What sigma-api's `register` and `retire` handlers do in airport-prod, with kube-rs.
//!
//! * `register`: server-side apply of one `XrayrNode` (field manager `sigma-api`, forced), so a
//!   re-register with the same facts is a no-op on the API server and a changed fact (a new IP,
//!   a new XrayR version) is an update. It first reads the node of that name and refuses to take
//!   over one that stands for another VPS (a different vps-id), unless forced
//!   (`register_with(.., true)`, `--force`), as `xrayr-mesh register` does.
//! * `retire`: delete the `XrayrNode`; the operator's `WorkloadEntry` is owned by it and goes
//!   with it (Kubernetes garbage collection). Deleting what is already gone is success.
//!
//! The object is the same one `xrayr-mesh register` writes (see docs/sigma-api.md).

use anyhow::{Context, Result, bail};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::ApiResource;
use kube::{Client, Config};
use serde_json::{Map, Value, json};

/// Field manager of every apply, so `kubectl get xn --show-managed-fields` names the writer.
pub const FIELD_MANAGER: &str = "sigma-api";
/// Labels on every registered node: who registered it, and which VPS it stands for.
pub const REGISTERED_BY_LABEL: &str = "mesh.sigma.io/registered-by";
pub const VPS_ID_LABEL: &str = "mesh.sigma.io/vps-id";
pub const DEFAULT_NAMESPACE: &str = "airport-prod";

/// The facts sigma-api has about a VPS when it registers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The XrayrNode name (a DNS-1123 label); becomes Istio's `source_workload`.
    pub name: String,
    /// The VPS's public IP in canonical form.
    pub address: String,
    /// ISO 3166-1 alpha-2; any case (written in lower case).
    pub country: String,
    /// XrayR version, e.g. `v25.3.6` (the operator defaults it to `v1`).
    pub version: Option<String>,
    /// sigma-api's id of the VPS.
    pub vps_id: Option<String>,
}

/// mesh.sigma.io/v1alpha1 XrayrNode, namespaced, plural xrayrnodes.
pub fn xrayr_node_resource() -> ApiResource {
    ApiResource {
        group: "mesh.sigma.io".into(),
        version: "v1alpha1".into(),
        api_version: "mesh.sigma.io/v1alpha1".into(),
        kind: "XrayrNode".into(),
        plural: "xrayrnodes".into(),
    }
}

/// The full object sigma-api owns for a registration. Fields it does not set here it does not
/// own, so a field it used to set and no longer does (say, version) is removed by the apply.
pub fn desired_node(reg: &Registration) -> Value {
    let mut labels = Map::new();
    labels.insert(REGISTERED_BY_LABEL.into(), json!(FIELD_MANAGER));
    let mut spec = Map::new();
    spec.insert("address".into(), json!(reg.address));
    // As normaliseCountry in src/domain/vps.ts: surrounding spaces dropped, lower case.
    spec.insert("country".into(), json!(reg.country.trim().to_ascii_lowercase()));
    if let Some(v) = &reg.version {
        spec.insert("version".into(), json!(v));
    }
    if let Some(id) = &reg.vps_id {
        spec.insert("vpsId".into(), json!(id));
        labels.insert(VPS_ID_LABEL.into(), json!(id));
    }
    json!({
        "apiVersion": "mesh.sigma.io/v1alpha1",
        "kind": "XrayrNode",
        "metadata": { "name": reg.name, "labels": labels },
        "spec": spec,
    })
}

/// The namespace (AIRPORT_NAMESPACE, default airport-prod) and a client for it
/// (AIRPORT_KUBECONFIG, else KUBECONFIG / in-cluster as kube-rs infers it).
pub async fn client_from_env() -> Result<(Client, String)> {
    let namespace = std::env::var("AIRPORT_NAMESPACE")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string());
    let config = match std::env::var("AIRPORT_KUBECONFIG").ok().filter(|s| !s.is_empty()) {
        Some(path) => {
            let kc = Kubeconfig::read_from(&path).with_context(|| format!("reading AIRPORT_KUBECONFIG {path}"))?;
            Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                .await
                .with_context(|| format!("loading AIRPORT_KUBECONFIG {path}"))?
        }
        None => Config::infer().await.context("no AIRPORT_KUBECONFIG and no usable KUBECONFIG or in-cluster config")?,
    };
    let client = Client::try_from(config).context("building the Kubernetes client")?;
    Ok((client, namespace))
}

fn nodes(client: &Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, &xrayr_node_resource())
}

/// The VPS id a live node stands for: spec.vpsId, else its vps-id label. The spec is the source
/// of truth and the label its copy for selectors; the rule (and why) is vpsIdOf in
/// src/domain/vps.ts.
fn vps_id_of(existing: &Value) -> Option<&str> {
    existing["spec"]["vpsId"]
        .as_str()
        .or_else(|| existing["metadata"]["labels"][VPS_ID_LABEL].as_str())
}

/// Why registering `reg` over the live node `existing` (as JSON) would take over another VPS's
/// node, or None: the node stands for a VPS id and the registration names another one, or none.
/// The same rule as `registrationConflict` in src/fleet/register.ts.
pub fn vps_id_conflict(existing: &Value, reg: &Registration) -> Option<String> {
    let live = vps_id_of(existing)?;
    if reg.vps_id.as_deref() == Some(live) {
        return None;
    }
    let mine = reg.vps_id.as_ref().map_or_else(|| "a registration without a vps id".to_string(), |id| format!("VPS {id}"));
    Some(format!(
        "XrayrNode {} already stands for VPS {live}, not {mine}: pick the name of this VPS, or force the registration to take the node over",
        reg.name
    ))
}

/// The register handler: server-side apply of the node. Idempotent. Refuses to take over a node
/// that stands for another VPS; see `register_with` to force it.
pub async fn register(client: &Client, namespace: &str, reg: &Registration) -> Result<DynamicObject> {
    register_with(client, namespace, reg, false).await
}

/// `register`, with `force` taking over a node that stands for another VPS.
pub async fn register_with(client: &Client, namespace: &str, reg: &Registration, force: bool) -> Result<DynamicObject> {
    if reg.name.is_empty() || reg.address.is_empty() || reg.country.is_empty() {
        bail!("a registration needs a name, an address and a country");
    }
    let api = nodes(client, namespace);
    if !force {
        let existing = api
            .get_opt(&reg.name)
            .await
            .map_err(|e| anyhow::anyhow!("reading XrayrNode {namespace}/{}: {}", reg.name, api_message(&e)))?;
        if let Some(obj) = existing {
            let as_json = serde_json::to_value(&obj).context("reading the live XrayrNode")?;
            if let Some(why) = vps_id_conflict(&as_json, reg) {
                bail!("{why}");
            }
        }
    }
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(&reg.name, &pp, &Patch::Apply(desired_node(reg)))
        .await
        .map_err(|e| anyhow::anyhow!("registering XrayrNode {namespace}/{}: {}", reg.name, api_message(&e)))
}

/// The retire handler: delete the node. Ok(true) if it was deleted, Ok(false) if it was gone.
pub async fn retire(client: &Client, namespace: &str, name: &str) -> Result<bool> {
    match nodes(client, namespace).delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(e) => Err(anyhow::anyhow!("retiring XrayrNode {namespace}/{name}: {}", api_message(&e))),
    }
}

fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} (HTTP {})", s.message, s.code),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn desired_node_lowercases_country_and_carries_the_vps_id() {
        let reg = Registration {
            name: "jp-tokyo-1001".into(),
            address: "45.76.83.243".into(),
            country: "JP".into(),
            version: None,
            vps_id: Some("1001".into()),
        };
        let v = desired_node(&reg);
        assert_eq!(v["spec"]["country"], "jp");
        assert_eq!(v["spec"]["vpsId"], "1001");
        assert_eq!(v["metadata"]["labels"][VPS_ID_LABEL], "1001");
        assert!(v["spec"].get("version").is_none());
    }

    #[test]
    fn a_node_of_another_vps_is_not_taken_over() {
        let reg = Registration {
            name: "jp-tokyo-1001".into(),
            address: "45.76.83.243".into(),
            country: "jp".into(),
            version: None,
            vps_id: Some("1001".into()),
        };
        let same = json!({"metadata": {"labels": {VPS_ID_LABEL: "1001"}}, "spec": {"vpsId": "1001"}});
        let other = json!({"metadata": {"labels": {VPS_ID_LABEL: "2002"}}, "spec": {}});
        let other_spec_only = json!({"metadata": {}, "spec": {"vpsId": "2002"}});
        let no_id = json!({"metadata": {}, "spec": {"address": "45.76.83.243"}});
        assert_eq!(vps_id_conflict(&same, &reg), None);
        assert_eq!(vps_id_conflict(&no_id, &reg), None);
        assert!(vps_id_conflict(&other, &reg).unwrap().contains("already stands for VPS 2002, not VPS 1001"));
        assert!(vps_id_conflict(&other_spec_only, &reg).is_some());
        let anonymous = Registration { vps_id: None, ..reg };
        assert!(vps_id_conflict(&same, &anonymous).is_some());
    }
}
