//! A model's versions while requests flow: its routing as the admin API
//! shows it, changes to it (split, shadow, promote, rollback), unloading a
//! version, and the routing kept across restarts; `incompatibility` says
//! when a new version would break the clients of the serving one.

use super::*;

/// A model's versions and routing, as the admin API shows them.
#[derive(Clone, Debug, Serialize)]
pub struct RolloutStatus {
    pub model: String,
    pub versions: Vec<VersionStatus>,
    pub shadow: Option<Shadow>,
    pub baseline: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct VersionStatus {
    pub version: String,
    pub weight: u32,
    /// Its share of the traffic, in percent.
    pub share: f64,
    /// Requests waiting for its worker now.
    pub queued: usize,
    /// The bundle folder it was loaded from.
    pub source: Option<PathBuf>,
}

/// What `wick serve` keeps across restarts for one model.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct SavedRouting {
    pub routing: Routing,
    /// Where each version was loaded from.
    pub sources: BTreeMap<String, PathBuf>,
}

impl Engine {
    /// A model's versions, weights, shadow and baseline.
    pub fn rollout(&self, model: &str) -> Result<RolloutStatus> {
        let models = self.read();
        let served = models
            .iter()
            .find(|m| m.name == model)
            .ok_or_else(|| Error::UnknownModel(model.to_string()))?;
        let shares = served.routing.shares();
        Ok(RolloutStatus {
            model: model.to_string(),
            versions: served
                .versions
                .iter()
                .map(|v| VersionStatus {
                    version: v.info.version.clone(),
                    weight: served.routing.weights[&v.info.version],
                    share: shares[&v.info.version],
                    queued: v.depth(),
                    source: v.source.clone(),
                })
                .collect(),
            shadow: served.routing.shadow.clone(),
            baseline: served.routing.baseline.clone(),
        })
    }

    /// Changes a model's routing with `change`; nothing changes when it
    /// refuses (`Error::Rollout`).
    pub fn change_routing(
        &self,
        model: &str,
        change: impl FnOnce(&mut Routing) -> std::result::Result<(), String>,
    ) -> Result<RolloutStatus> {
        {
            let mut models = self.write();
            let served = models
                .iter_mut()
                .find(|m| m.name == model)
                .ok_or_else(|| Error::UnknownModel(model.to_string()))?;
            let mut routing = served.routing.clone();
            change(&mut routing).map_err(Error::Rollout)?;
            served.routing = routing;
        }
        self.rollout(model)
    }

    /// Takes a version out of the routing and unloads it: requests it has
    /// already taken finish (its worker drains its queue), new ones go to
    /// the other versions.
    pub fn unload(&self, model: &str, version: &str) -> Result<RolloutStatus> {
        let removed = {
            let mut models = self.write();
            let served = models
                .iter_mut()
                .find(|m| m.name == model)
                .ok_or_else(|| Error::UnknownModel(model.to_string()))?;
            served.routing.remove(version).map_err(Error::Rollout)?;
            let index = served
                .versions
                .iter()
                .position(|v| v.info.version == version)
                .ok_or_else(|| Error::Rollout(format!("version `{version}` is not loaded")))?;
            served.versions.remove(index)
        };
        drop(removed);
        self.rollout(model)
    }

    /// Every model's routing and where its versions came from, to be kept
    /// across restarts.
    pub fn saved_routing(&self) -> BTreeMap<String, SavedRouting> {
        self.read()
            .iter()
            .map(|served| {
                let sources = served
                    .versions
                    .iter()
                    .filter_map(|v| Some((v.info.version.clone(), v.source.clone()?)))
                    .collect();
                let saved = SavedRouting {
                    routing: served.routing.clone(),
                    sources,
                };
                (served.name.clone(), saved)
            })
            .collect()
    }

    /// Puts back a kept routing once its versions are loaded: weights,
    /// shadow and baseline of the versions that are.
    pub fn restore_routing(&self, model: &str, saved: &Routing) -> Result<RolloutStatus> {
        self.change_routing(model, |routing| {
            let weights: BTreeMap<String, u32> = saved
                .weights
                .iter()
                .filter(|(version, _)| routing.weights.contains_key(*version))
                .map(|(version, weight)| (version.clone(), *weight))
                .collect();
            routing.split(&weights)?;
            if let Some(shadow) = &saved.shadow {
                routing.set_shadow(&shadow.version, shadow.percent)?;
            }
            routing.baseline = saved.baseline.clone();
            Ok(())
        })
    }
}

/// Why a new version's endpoints would fail the clients of the serving
/// one, if they would: an endpoint, input or output gone or of another
/// kind, or a new required input. New endpoints, optional inputs and
/// outputs are fine.
pub fn incompatibility(serving: &[Endpoint], new: &[Endpoint]) -> Option<String> {
    for old in serving {
        let Some(endpoint) = new.iter().find(|e| e.name == old.name) else {
            return Some(format!("it has no endpoint `{}`", old.name));
        };
        let name = &old.name;
        if let Some(why) = field_gone_or_changed(name, "input", &old.inputs, &endpoint.inputs)
            .or_else(|| field_gone_or_changed(name, "output", &old.outputs, &endpoint.outputs))
        {
            return Some(why);
        }
        if let Some(added) = endpoint
            .inputs
            .iter()
            .find(|f| f.required && !old.inputs.iter().any(|o| o.name == f.name))
        {
            return Some(format!("`{name}` requires a new input `{}`", added.name));
        }
    }
    None
}

/// The first of `old`'s fields (`what`: input or output) that `new` lacks
/// or gives another kind.
pub(super) fn field_gone_or_changed(
    endpoint: &str,
    what: &str,
    old: &[Field],
    new: &[Field],
) -> Option<String> {
    old.iter()
        .find_map(|field| match new.iter().find(|f| f.name == field.name) {
            None => Some(format!("`{endpoint}` has no {what} `{}`", field.name)),
            Some(f) if f.kind != field.kind => Some(format!(
                "{what} `{}` of `{endpoint}` changed its kind",
                field.name
            )),
            Some(_) => None,
        })
}
