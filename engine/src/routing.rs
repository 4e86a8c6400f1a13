//! How one model's traffic is split between its loaded versions: a weight
//! per version, an optional shadow that gets a copy of a share of the
//! traffic, and the baseline a rollback returns to. Pure rules, no
//! serving: the engine keeps one `Routing` per model name and asks it
//! which version answers; `wick serve` keeps it on disk across restarts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The routing of one model name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Routing {
    /// Every loaded version and its share of traffic (relative weights;
    /// 0: loaded, reachable by pinning, sent nothing).
    pub weights: BTreeMap<String, u32>,
    /// The version that gets a copy of some requests, never answering.
    #[serde(default)]
    pub shadow: Option<Shadow>,
    /// The version that served alone when the newest candidate was loaded:
    /// where `rollback` sends all traffic, even after a promote.
    #[serde(default)]
    pub baseline: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shadow {
    pub version: String,
    /// Share of the requests that get a copy, 0 to 100.
    pub percent: f64,
}

impl Routing {
    /// The routing of a model whose first version is `version`.
    pub fn first(version: &str) -> Routing {
        Routing {
            weights: BTreeMap::from([(version.to_string(), 100)]),
            shadow: None,
            baseline: None,
        }
    }

    /// Adds a newly loaded version with no traffic. When one version was
    /// serving alone, it becomes the baseline to roll back to.
    pub fn add(&mut self, version: &str) {
        let serving: Vec<&String> = self.serving().collect();
        if let [alone] = serving[..] {
            self.baseline = Some(alone.clone());
        }
        self.weights.insert(version.to_string(), 0);
    }

    /// The versions with a share of traffic.
    pub fn serving(&self) -> impl Iterator<Item = &String> {
        self.weights
            .iter()
            .filter(|(_, weight)| **weight > 0)
            .map(|(version, _)| version)
    }

    /// Sets the weights: versions not named get none. Every named version
    /// must be loaded and some traffic must go somewhere.
    pub fn split(&mut self, weights: &BTreeMap<String, u32>) -> Result<(), String> {
        if let Some(unknown) = weights.keys().find(|v| !self.weights.contains_key(*v)) {
            return Err(format!("version `{unknown}` is not loaded"));
        }
        if weights.values().all(|weight| *weight == 0) {
            return Err("every weight is 0: some version must get the traffic".into());
        }
        for (version, weight) in self.weights.iter_mut() {
            *weight = weights.get(version).copied().unwrap_or(0);
        }
        Ok(())
    }

    /// Sends a copy of `percent` of the requests to `version`; 0 stops it.
    pub fn set_shadow(&mut self, version: &str, percent: f64) -> Result<(), String> {
        if !self.weights.contains_key(version) {
            return Err(format!("version `{version}` is not loaded"));
        }
        if !(0.0..=100.0).contains(&percent) {
            return Err(format!(
                "the shadow share must be 0 to 100 %, not {percent}"
            ));
        }
        self.shadow = (percent > 0.0).then(|| Shadow {
            version: version.to_string(),
            percent,
        });
        Ok(())
    }

    /// All traffic to `version`; it stops being a shadow.
    pub fn promote(&mut self, version: &str) -> Result<(), String> {
        self.split(&BTreeMap::from([(version.to_string(), 100)]))?;
        if self.shadow.as_ref().is_some_and(|s| s.version == version) {
            self.shadow = None;
        }
        Ok(())
    }

    /// All traffic back to the baseline; the other versions stay loaded
    /// and the shadow stops.
    pub fn rollback(&mut self) -> Result<String, String> {
        let baseline = self.baseline.clone().ok_or(
            "no version served alone before a candidate was loaded: nothing to roll back to",
        )?;
        if !self.weights.contains_key(&baseline) {
            return Err(format!(
                "the version to roll back to, `{baseline}`, is no longer loaded"
            ));
        }
        self.promote(&baseline)?;
        self.shadow = None;
        Ok(baseline)
    }

    /// Takes `version` out, refusing when it is the last one with traffic.
    pub fn remove(&mut self, version: &str) -> Result<(), String> {
        if !self.weights.contains_key(version) {
            return Err(format!("version `{version}` is not loaded"));
        }
        if !self.serving().any(|v| v != version) {
            return Err(format!(
                "`{version}` is the only version with traffic; promote or split to another first"
            ));
        }
        self.weights.remove(version);
        if self.shadow.as_ref().is_some_and(|s| s.version == version) {
            self.shadow = None;
        }
        Ok(())
    }

    /// The version at `point` of the weights laid end to end (a hash of
    /// the client, or a random number).
    pub fn pick(&self, point: u64) -> Option<&str> {
        let total: u64 = self.weights.values().map(|w| *w as u64).sum();
        if total == 0 {
            return None;
        }
        let mut at = point % total;
        for (version, weight) in &self.weights {
            let weight = *weight as u64;
            if at < weight {
                return Some(version);
            }
            at -= weight;
        }
        None
    }

    /// Each version's share of traffic in percent. Summed in u64: two
    /// weights near u32's top (4294967295 + 1) would wrap a u32 sum to 0.
    pub fn shares(&self) -> BTreeMap<String, f64> {
        let total: u64 = self.weights.values().map(|w| u64::from(*w)).sum();
        self.weights
            .iter()
            .map(|(version, weight)| {
                let share = match total {
                    0 => 0.0,
                    total => *weight as f64 * 100.0 / total as f64,
                };
                (version.clone(), share)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weights(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
        pairs.iter().map(|(v, w)| (v.to_string(), *w)).collect()
    }

    #[test]
    fn a_canary_is_split_promoted_rolled_back_and_unloaded() {
        let mut routing = Routing::first("1.0.0");
        routing.add("1.1.0");
        assert_eq!(routing.baseline.as_deref(), Some("1.0.0"));
        assert_eq!(routing.serving().collect::<Vec<_>>(), ["1.0.0"]);
        routing
            .split(&weights(&[("1.0.0", 90), ("1.1.0", 10)]))
            .unwrap();
        let picks: Vec<&str> = (0..100).filter_map(|p| routing.pick(p)).collect();
        assert_eq!(picks.iter().filter(|v| **v == "1.1.0").count(), 10);
        routing.promote("1.1.0").unwrap();
        assert_eq!(routing.pick(7), Some("1.1.0"));
        assert_eq!(routing.rollback().unwrap(), "1.0.0");
        assert_eq!(routing.shares()["1.0.0"], 100.0);
        assert!(routing.weights.contains_key("1.1.0"), "the candidate stays");
        routing.promote("1.1.0").unwrap();
        routing.remove("1.0.0").unwrap();
        assert!(routing.rollback().unwrap_err().contains("no longer loaded"));
    }

    #[test]
    fn changes_that_would_leave_no_traffic_or_name_strangers_are_refused() {
        let mut routing = Routing::first("1");
        routing.add("2");
        assert!(routing.remove("1").unwrap_err().contains("only version"));
        assert!(routing.split(&weights(&[("1", 0)])).is_err());
        assert!(routing.split(&weights(&[("3", 5)])).is_err());
        assert!(routing.set_shadow("3", 10.0).is_err());
        assert!(routing.set_shadow("2", 101.0).is_err());
        assert!(routing.promote("3").is_err());
        assert_eq!(routing, {
            let mut same = Routing::first("1");
            same.add("2");
            same
        });
        routing
            .split(&weights(&[("1", u32::MAX), ("2", 1)]))
            .unwrap();
        assert!(routing.shares()["1"] > 99.9 && routing.shares()["2"] > 0.0);
        assert_eq!(routing.pick(u64::from(u32::MAX)), Some("2"));
        routing.split(&weights(&[("1", 1)])).unwrap();
        routing.set_shadow("2", 25.0).unwrap();
        routing.remove("2").unwrap();
        assert_eq!(routing.shadow, None);
    }
}
